package mp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/mpgo/mp/mp/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Shared arrays between real processes: the library's backends as users of
// package shm.

// useShmPrefix gives the test its own segment prefix, and checks at the end
// that no segment with it is left in /dev/shm.
func useShmPrefix(t testing.TB) string {
	word := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, "u"+strconv.Itoa(os.Getpid())+t.Name())
	prefix := shm.DefaultPrefix + word[:min(len(word), 56)] + "-"
	t.Setenv(shm.PrefixEnv, prefix)
	t.Cleanup(func() {
		left, _ := filepath.Glob(filepath.Join(shm.Dir, prefix+"*"))
		for _, f := range left {
			os.Remove(f)
		}
		assert.Empty(t, left, "segments left in /dev/shm")
	})
	return prefix
}

// A named shared array that the frontend creates and the backend fills
// (opening it by its Spec's name, dtype and shape) shows the backend's
// values to the frontend.
func TestSharedArrayAcrossProcesses(t *testing.T) {
	useShmPrefix(t)
	a, err := shm.Create[float64]("across", 100, 100)
	require.NoError(t, err)
	defer a.Close()
	defer a.Unlink()
	require.NoError(t, a.Fill(1))
	p := startTest(t, Options{})
	spec := a.Spec()
	_, err = p.Call(context.Background(), "shmfill", Params{"name": spec.Name, "dtype": spec.DType, "shape": spec.Shape, "value": 3.0})
	require.NoError(t, err)
	sum, err := a.Sum()
	require.NoError(t, err)
	assert.Equal(t, 30000.0, sum)
}

// An anonymous shared array passed to the backend in Options.Files and
// filled there shows the backend's values to the frontend.
func TestAnonArrayAcrossProcesses(t *testing.T) {
	a, err := shm.CreateAnon[float64]("anon", 4, 4)
	require.NoError(t, err)
	defer a.Close()
	p := startTest(t, Options{Files: []*os.File{a.File()}})
	_, err = p.Call(context.Background(), "anonfill", nil)
	require.NoError(t, err)
	sum, err := a.Sum()
	require.NoError(t, err)
	assert.Equal(t, 80.0, sum)
}

// Fault: the backend is killed with SIGKILL while it maps a named array.
// The frontend, the segment's creator, must still own it: the segment is not
// stale, holds what the backend wrote, and Close and Unlink leave nothing in
// /dev/shm.
func TestFaultBackendKilledHoldingMapping(t *testing.T) {
	prefix := useShmPrefix(t)
	a, err := shm.Create[float64]("held", 8)
	require.NoError(t, err)
	p := startTest(t, Options{})
	require.NoError(t, p.Send(context.Background(), "shmhold", Params{"name": a.Name()}))
	require.Equal(t, "holding", (<-p.Messages()).Command)
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))
	require.ErrorIs(t, p.Wait(context.Background()), ErrBackendDied)

	// The frontend still owns the segment: it is not stale, and the
	// frontend cleans it up.
	stale, why, err := shm.Stale(a.Name())
	require.NoError(t, err)
	assert.False(t, stale, "its creator lives: %s", why)
	sum, err := a.Sum()
	require.NoError(t, err)
	assert.Equal(t, 8.0, sum, "what the backend wrote is still there")
	require.NoError(t, a.Close())
	require.NoError(t, a.Unlink())
	left, _ := filepath.Glob(filepath.Join(shm.Dir, prefix+"*"))
	assert.Empty(t, left)
}

// Fault: the frontend (the test binary in "shmorphan" mode) is killed with
// SIGKILL after creating a segment that its backend maps. The backend must
// die with it, and the segment, which nothing could unlink, must then read
// as stale and be removed by RemoveStale, which removes nothing else.
func TestFaultFrontendKilledAfterCreate(t *testing.T) {
	prefix := useShmPrefix(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envHelper+"=shmorphan")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	var backend int
	var seg string
	_, err = fmt.Sscanf(line, "backend %d segment %s", &backend, &seg)
	require.NoError(t, err, "helper said %q", line)

	// While the frontend lives, the segment is live.
	stale, why, err := shm.Stale(seg)
	require.NoError(t, err)
	require.False(t, stale, "the creator runs: %s", why)

	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	bound := helperStopTimeout + 2*time.Second // the grace after SIGTERM, and a second
	require.True(t, proctest.AwaitGone(t, backend, bound), "the backend dies with its frontend")

	// Nothing can unlink a segment whose creator was killed outright: it is
	// left. Its creator's lock died with it, and nobody maps it: it is
	// stale, and the rule removes it, leaving the others alone.
	// (The kernel drops a dead process's lock when the last reference to
	// its open file goes, which can be a moment after its pidfd reads as
	// ended: awaitUnlocked waits for that release itself.)
	require.FileExists(t, filepath.Join(shm.Dir, seg))
	awaitUnlocked(t, filepath.Join(shm.Dir, seg), 5*time.Second)
	stale, why, err = shm.Stale(seg)
	require.NoError(t, err)
	assert.True(t, stale, why)
	removed, err := shm.RemoveStale(prefix)
	require.NoError(t, err)
	assert.Equal(t, []string{seg}, removed)
	assert.NoFileExists(t, filepath.Join(shm.Dir, seg))
	assert.True(t, strings.HasPrefix(seg, prefix))
}

// awaitUnlocked waits up to bound for nobody to hold a flock(2) lock on the
// file at path (the lock shm's segments carry), by taking the exclusive
// lock in a blocking call and releasing it at once: the kernel wakes that
// call when the last holder lets go. Past the bound the test fails, and the
// goroutine stays blocked until the holder lets go or the test binary ends.
func awaitUnlocked(t *testing.T, path string, bound time.Duration) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	locked := make(chan error, 1)
	go func() {
		defer f.Close()
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err == nil {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		}
		locked <- err
	}()
	select {
	case err := <-locked:
		require.NoError(t, err)
	case <-time.After(bound):
		t.Fatalf("%s still locked after %v", path, bound)
	}
}
