package chapters_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// withoutEnv returns this process's environment without key.
func withoutEnv(key string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, key+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// waitForChild returns the PID of parent's child whose argv[0] is argv0,
// waiting up to ten seconds for it to appear. A bounded poll, as nothing
// better exists: no event tells this process of a grandchild's start, or
// of the exec(2) that gives a process its argv[0] (the kernel's proc
// connector does, but only to root and machine-wide), and the callers'
// programs print no line at that moment.
func waitForChild(t *testing.T, parent int, argv0 string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil || argv0Of(pid) != argv0 {
				continue
			}
			stat, _ := os.ReadFile("/proc/" + d.Name() + "/stat")
			if i := bytes.LastIndexByte(stat, ')'); i > 0 {
				if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(parent) {
					return pid
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no child %q of pid %d within ten seconds", argv0, parent)
	return 0
}

// waitForArgv0 waits up to ten seconds for process pid's argv[0] to read
// argv0: a bounded poll, for the reason waitForChild gives.
func waitForArgv0(t *testing.T, pid int, argv0 string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for argv0Of(pid) != argv0 {
		require.True(t, time.Now().Before(deadline), "pid %d never became %q", pid, argv0)
		time.Sleep(5 * time.Millisecond)
	}
}

func argv0Of(pid int) string {
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	return string(argv0)
}

// cleanupRun is what one run of aux/cleanup.bash printed and how it ended.
type cleanupRun struct {
	stdout, stderr string
	code           int
}

// runCleanup runs aux/cleanup.bash with args. Callers always narrow it to
// their own prefix and processes: other tests run on this machine at the
// same time.
func runCleanup(t *testing.T, args ...string) cleanupRun {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"aux/cleanup.bash"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		require.NoError(t, err)
	}
	return cleanupRun{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// testPrefix returns a segment prefix unique to this test, and removes
// whatever is left under it when the test ends.
func testPrefix(t *testing.T) string {
	prefix := "mp-cu" + randomHex(4) + "-"
	t.Cleanup(func() {
		left, _ := filepath.Glob("/dev/shm/" + prefix + "*")
		for _, p := range left {
			exec.Command("chattr", "-i", p).Run()
			os.Remove(p)
		}
	})
	return prefix
}

// segment creates /dev/shm/name by hand, one page long, with nobody holding
// or mapping it: what a crashed creator leaves.
func segment(t *testing.T, name string) string {
	t.Helper()
	path := "/dev/shm/" + name
	require.NoError(t, os.WriteFile(path, make([]byte, 4096), 0o600))
	return path
}

// lockShared takes the creator's shared flock on path and holds it until the
// test ends, as a live creator does.
func lockShared(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	require.NoError(t, unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB))
}

// mapWithoutLock maps path and closes it, holding no lock and no file
// descriptor, until the test ends: a process that uses a segment without
// following the locking rule.
func mapWithoutLock(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	mem, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	t.Cleanup(func() { unix.Munmap(mem) })
}

// startSleep starts a process that is not ours: a plain sleep, with a
// duration unique to this test so that a pattern can name it exactly.
func startSleep(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	secs := fmt.Sprintf("3600.%06d", time.Now().UnixNano()%1000000)
	cmd := exec.Command("sleep", secs)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, secs
}

// noPID is a PID no process can have (the kernel's limit is 4194304), for
// segment names whose creator the name must not be taken to identify.
const noPID = "4194304"
