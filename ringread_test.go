package chapters_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// numpyPython returns an interpreter that imports numpy: /usr/bin/python3
// (where Debian's python3-numpy goes) first, then the first python3 on the
// PATH; "" if neither does.
func numpyPython() string {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import numpy").Run() == nil {
			return py
		}
	}
	return ""
}

// TestRingReadPython runs the stream chapter with -named, so that its ring
// stays in /dev/shm under a name after the stream, and reads the frames
// left in it with aux/ring_read.py and numpy, as another language's
// program would, from the layout documented in mp/shm. Then Ctrl-C ends the
// chapter, which unlinks the ring.
func TestRingReadPython(t *testing.T) {
	py := numpyPython()
	if py == "" {
		t.Skip("skipped: no Python with numpy (tried /usr/bin/python3, then python3 on the PATH); apt-get install python3-numpy")
	}
	segment, end := keptRing(t, "-frames", "20")
	read, err := exec.Command(py, "aux/ring_read.py", segment, "--width", "64", "--height", "48").CombinedOutput()
	require.NoError(t, err, "%s", read)
	got := string(read)
	assert.Regexp(t, `^ring `+segment+`: 8 slots of 9248 bytes, policy block, 20 frames committed, 0 dropped, closed\n`, got)
	for n := 12; n < 20; n++ {
		assert.Regexp(t, `(?m)^frame `+strconv.Itoa(n)+`: \(48, 64, 3\) uint8, first pixel \[`+strconv.Itoa(n)+`, `+strconv.Itoa(n+1)+`, `+strconv.Itoa(n+2)+`\], pixels ok$`, got)
	}
	assert.NotContains(t, got, "WRONG")
	end()
}

// keptRing starts the stream chapter with -named, 64x48 frames and args,
// and returns the name of the ring it keeps in /dev/shm once the stream has
// ended, and end, which stops the chapter with a Ctrl-C and checks that it
// exits 130 after its clean-up. Whatever happens, the chapter is killed and
// its segments removed when the test ends.
func keptRing(t *testing.T, args ...string) (segment string, end func()) {
	t.Helper()
	tag := "ringread" + randomHex(4)
	prefix := "mp-" + tag + "-"
	cmd := exec.Command(filepath.Join(binDir, "stream"), append([]string{"-named", "-width", "64", "-height", "48"}, args...)...)
	cmd.Env = append(withoutEnv("MP_SHM_PREFIX"), "MP_FAST=1", "MP_TEST_TAG="+tag, "MP_SHM_PREFIX="+prefix)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		assert.Empty(t, removeSegments(prefix), "segments left in /dev/shm")
	})

	// The chapter names its ring once the stream has ended.
	kept := regexp.MustCompile(`ring kept at /dev/shm/(\S+) for aux/ring_read.py`)
	lines := make(chan string)
	go func() {
		defer close(lines)
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			lines <- sc.Text()
		}
	}()
	var out strings.Builder
	for segment == "" {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "stream ended early:\n%s", out.String())
			out.WriteString(l + "\n")
			if m := kept.FindStringSubmatch(l); m != nil {
				segment = m[1]
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("stream never kept its ring:\n%s", out.String())
		}
	}
	require.True(t, strings.HasPrefix(segment, prefix), segment)
	return segment, func() {
		t.Helper()
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		for l := range lines {
			out.WriteString(l + "\n")
		}
		cmd.Wait()
		assert.Equal(t, 130, cmd.ProcessState.ExitCode(), "%s", out.String())
		assert.Contains(t, out.String(), "stopped: interrupt signal received; everything is cleaned up")
	}
}

// TestRingReadWithoutNumpy: without numpy, aux/ring_read.py says in one
// line which package to install and exits non-zero, with no traceback.
// Fault injected: a numpy package on PYTHONPATH whose import fails, so
// that the test runs whether this machine has numpy or not.
func TestRingReadWithoutNumpy(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on the PATH")
	}
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "numpy"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "numpy", "__init__.py"),
		[]byte("raise ImportError(\"No module named 'numpy'\")\n"), 0o644))
	cmd := exec.Command(py, "aux/ring_read.py", "mp-nosuch-frames")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.NotZero(t, ee.ExitCode())
	assert.Regexp(t, `^ring_read\.py needs numpy, .*: apt-get install python3-numpy \(or pip install numpy\)\n$`, string(out))
	assert.NotContains(t, string(out), "Traceback")
}
