package shm

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// helper starts this test binary as runHelper in mode, and returns it with
// the segment it created.
func helper(t *testing.T, mode string) (*exec.Cmd, io.WriteCloser, string) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	seg, ok := strings.CutPrefix(strings.TrimSpace(line), "created ")
	require.True(t, ok, "helper said %q", line)
	return cmd, stdin, seg
}

// useLogger sends slog's default logger to w for the test.
func useLogger(t *testing.T, w io.Writer) {
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(w, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
}

func TestStaleNotWhileCreatorLives(t *testing.T) {
	// A segment whose creator runs (another process, holding its lock but
	// not mapping anything of it any more) is never stale, whatever its
	// name says, and Create on its name is ErrExists.
	useShmPrefix(t)
	cmd, stdin, seg := helper(t, "createwait")
	stale, why, err := Stale(seg)
	require.NoError(t, err)
	assert.False(t, stale)
	assert.Contains(t, why, "holds its lock")
	removed, err := RemoveStale(os.Getenv(PrefixEnv))
	require.NoError(t, err)
	assert.Empty(t, removed)

	// The creator ends normally: it unlinks, and nothing is left.
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	assert.NoFileExists(t, filepath.Join(Dir, seg))
}

func TestStaleNotWhileMapped(t *testing.T) {
	// A segment whose creator is gone (nobody holds its lock) but that a
	// live process maps without taking the lock (a tool, a program not
	// using this package) is not stale either.
	useShmPrefix(t)
	seg, err := SegmentName("mapped")
	require.NoError(t, err)
	path := filepath.Join(Dir, seg)
	require.NoError(t, os.WriteFile(path, make([]byte, headerSize), 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	mem, err := unix.Mmap(int(f.Fd()), 0, headerSize, unix.PROT_READ, unix.MAP_SHARED)
	require.NoError(t, err)
	f.Close()

	stale, why, err := Stale(seg)
	require.NoError(t, err)
	assert.False(t, stale)
	assert.Equal(t, "process "+strconv.Itoa(os.Getpid())+" maps it", why)
	_, err = Create[uint8]("mapped", 1)
	require.ErrorIs(t, err, ErrExists)
	assert.Contains(t, err.Error(), "maps it")
	assert.FileExists(t, path)

	// Unmapped, it is stale, and removed.
	require.NoError(t, unix.Munmap(mem))
	assertRemovedAsStale(t, seg)
	assert.NoFileExists(t, path)
}

func TestStaleNotWhileOpened(t *testing.T) {
	// The creator is killed (SIGKILL) while another process has its
	// segment open: not stale while that process holds it; stale once it
	// closes it.
	useShmPrefix(t)
	cmd, _, seg := helper(t, "createkill")
	cmd.Wait()
	// This process opens it before anybody removes it. (Open itself
	// does not remove stale segments: only Create and RemoveStale do.)
	a, err := Open[float64](seg, 8)
	require.NoError(t, err)
	stale, why, err := Stale(seg)
	require.NoError(t, err)
	assert.False(t, stale, "an opener holds it: %s", why)
	require.NoError(t, a.Close())
	assertRemovedAsStale(t, seg)
}

func TestCreateReplacesStale(t *testing.T) {
	// Fault: the creator of a segment is killed with SIGKILL, and this
	// process, as if it had been given the same PID, creates the same name.
	// (TestPIDReuse does it for real in a PID namespace; here the dead
	// creator's segment is renamed to the name this process will use.)
	// Create removes the stale segment, warns, and proceeds.
	useShmPrefix(t)
	cmd, _, seg := helper(t, "createkill")
	cmd.Wait()
	stale, _, err := Stale(seg)
	require.NoError(t, err)
	require.True(t, stale)

	mine, err := SegmentName("held")
	require.NoError(t, err)
	require.NoError(t, os.Link(filepath.Join(Dir, seg), filepath.Join(Dir, mine)))
	require.NoError(t, os.Remove(filepath.Join(Dir, seg)))

	var logs bytes.Buffer
	useLogger(t, &logs)
	a, err := Create[float64]("held", 8)
	require.NoError(t, err)
	defer a.Close()
	defer a.Unlink()
	assert.Contains(t, logs.String(), "shm: removed stale segment")
	assert.Contains(t, logs.String(), mine)
	sum, err := a.Sum()
	require.NoError(t, err)
	assert.Equal(t, 0.0, sum, "a new array, not the old one")
}

func TestPIDReuse(t *testing.T) {
	// Fault: a program creates an array and is killed with SIGKILL, twice
	// in a row, each time as PID 2 of a new PID namespace (unshare -pf
	// --mount-proc): the second run gets the very name the first one left
	// behind. The second run must succeed, removing the stale segment,
	// which no PID check could tell from a live one.
	if err := exec.Command("unshare", "-pf", "--mount-proc", "true").Run(); err != nil {
		t.Skipf("unshare -pf --mount-proc is not permitted here (%v): needs root or user namespaces", err)
	}
	prefix := useShmPrefix(t)
	run := func() (string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// sh is PID 1 (which cannot SIGKILL itself), the helper PID 2.
		cmd := exec.CommandContext(ctx, "unshare", "-pf", "--mount-proc", "sh", "-c", `"$0" -test.run='^$'; echo "exit $?"`, os.Args[0])
		cmd.Env = append(os.Environ(), envHelper+"=createkill")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "stderr: %s", stderr.String())
		return stdout.String(), stderr.String()
	}
	want := "created " + prefix + "2-held\nexit 137\n"
	out, _ := run()
	require.Equal(t, want, out, "first run")
	out, errs := run()
	assert.Equal(t, want, out, "second run, same PID, same name")
	assert.Contains(t, errs, "shm: removed stale segment")

	removed, err := RemoveStale(prefix)
	require.NoError(t, err)
	assert.Equal(t, []string{prefix + "2-held"}, removed)
}

func TestRemoveStaleBadPrefix(t *testing.T) {
	for _, p := range []string{"", "mp", "other-", "mp-x", "mp-12-", "mp-a/b-", "mp--"} {
		_, err := RemoveStale(p)
		assert.ErrorIs(t, err, ErrBadPrefix, "%q", p)
	}
}

func TestStaleOnlyRegularFiles(t *testing.T) {
	// Fault: something that is not a segment sits under one of our names
	// (a FIFO, which would block a plain open for reading). Stale says so
	// at once, and RemoveStale leaves it alone.
	prefix := useShmPrefix(t)
	seg, err := SegmentName("fifo")
	require.NoError(t, err)
	path := filepath.Join(Dir, seg)
	require.NoError(t, unix.Mkfifo(path, 0o600))
	defer os.Remove(path)
	_, _, err = Stale(seg)
	assert.ErrorIs(t, err, ErrBadName)
	assert.Contains(t, err.Error(), "not a regular file")
	removed, err := RemoveStale(prefix)
	assert.NoError(t, err)
	assert.Empty(t, removed)
	assert.FileExists(t, path)
	require.NoError(t, os.Remove(path))
}

// assertRemovedAsStale checks that segment seg is judged stale, and that
// RemoveStale removes it (and only it) and logs it.
func assertRemovedAsStale(t *testing.T, seg string) {
	t.Helper()
	stale, why, err := Stale(seg)
	require.NoError(t, err)
	assert.True(t, stale, why)
	var logs bytes.Buffer
	useLogger(t, &logs)
	removed, err := RemoveStale(os.Getenv(PrefixEnv))
	require.NoError(t, err)
	assert.Equal(t, []string{seg}, removed)
	assert.Contains(t, logs.String(), `msg="shm: removed stale segment" segment=`+seg)
}
