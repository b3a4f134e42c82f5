package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// cldStopped is siginfo's si_code for a child stopped by a signal
// (sigaction(2)); golang.org/x/sys/unix does not name it.
const cldStopped = 5

// squaresOut is what a whole run prints on stdout, line by line.
var squaresOut = []string{
	`data: \[1 2 3 4 5 6 7 8\]`,
	`progress: 2 of 4 squared`,
	`progress: 4 of 4 squared`,
	`square returned sum 30; data: \[1 4 9 16 5 6 7 8\]`,
	`negated; data: \[-1 -4 -9 -16 -5 -6 -7 -8\]`,
}

// Fault: Ctrl-C (or SIGTERM) while squares runs. Its calls then fail with
// the context's error, and the example used to print that error and exit
// 1, where the README says a program stopped by Ctrl-C runs its clean-up
// and exits 130 (143 for SIGTERM); a signal after its last call was not
// even noticed (status 0). The built example is held still with SIGSTOP
// once its backend has been forked (the whole run takes a few
// milliseconds), gets the signal, is let go, and must exit 130 or 143,
// say only what stopped it, print no more than the start of its output,
// and leave no backend behind. When it ended before it could be held, or
// finished everything before the signal was handled (status 0 and the
// whole output), it tries again, up to 5 runs. The same test as
// examples/pool's TestSignalStopsThePool.
func TestSignalStopsSquares(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "squares")
	build, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", build)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			var missed []string
			for range 5 {
				how := interruptMidRun(t, bin, sig)
				if how == "" {
					return
				}
				missed = append(missed, how)
			}
			t.Fatalf("in 5 runs, the signal never came mid-run: %s", strings.Join(missed, "; "))
		})
	}
}

// interruptMidRun runs squares once, stops it with sig as
// TestSignalStopsSquares says, checks how it ended, and returns "" when the
// signal stopped it, else what happened instead.
func interruptMidRun(t *testing.T, bin string, sig syscall.Signal) string {
	t.Helper()
	tag := "squares" + randomHex(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), proctest.TagVar+"="+tag)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { killTagged(t, tag) })
	if !holdWithAChild(t, cmd.Process.Pid) {
		require.NoError(t, cmd.Wait())
		return "it ended before it was held with its backend"
	}
	require.NoError(t, cmd.Process.Signal(sig))
	require.NoError(t, cmd.Process.Signal(syscall.SIGCONT))
	err := cmd.Wait()
	left, werr := proctest.AwaitNone(func() []int { return proctest.Tagged(tag) }, 2*time.Second)
	require.NoError(t, werr)
	assert.Empty(t, left, "backend left behind")
	lines := strings.SplitAfter(stdout.String(), "\n")
	require.Equal(t, "", lines[len(lines)-1], "a line cut short:\n%s", &stdout)
	lines = lines[:len(lines)-1]
	require.LessOrEqual(t, len(lines), len(squaresOut), "%s", &stdout)
	for i, l := range lines {
		assert.Regexp(t, "^"+squaresOut[i]+"\n$", l)
	}
	if err == nil {
		// The signal was handled after the last look at ctx: too late to
		// matter, as it may be for any program.
		assert.Len(t, lines, len(squaresOut))
		assert.Empty(t, stderr.String())
		return "every call done before the signal: status 0"
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	assert.Equal(t, 128+int(sig), ee.ExitCode(), "stderr:\n%s", &stderr)
	assert.Equal(t, "squares: "+sig.String()+" signal received\n", stderr.String())
	return ""
}

// holdWithAChild lets the frontend, process pid, run in slices of about a
// millisecond, stopped (SIGSTOP) between them, until it has a child: its
// backend. It reports whether it then holds the frontend stopped, or false
// when the frontend ended first. The children are looked for while the
// frontend is stopped, so that it cannot finish meanwhile; a slice ends
// early if the frontend exits (its pidfd).
func holdWithAChild(t *testing.T, pid int) bool {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if !holdStill(t, pid) {
			return false
		}
		if hasChild(pid) {
			return true
		}
		require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
		if _, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 1); err != unix.EINTR {
			require.NoError(t, err)
		}
	}
	t.Fatal("no backend within 10 s")
	return false
}

// holdStill stops process pid (SIGSTOP) and reports whether it is stopped,
// or false when it has exited: waitid(2) with WNOWAIT tells which without
// reaping it, so that exec.Cmd.Wait still can.
func holdStill(t *testing.T, pid int) bool {
	t.Helper()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WSTOPPED|unix.WEXITED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		require.NoError(t, err)
		return info.Code == cldStopped
	}
}

// hasChild reports whether a process has pid as its parent (the fourth
// field of /proc/<pid>/stat, after the command name's parenthesis).
func hasChild(pid int) bool {
	dirs, _ := os.ReadDir("/proc")
	parent := strconv.Itoa(pid)
	for _, d := range dirs {
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == parent {
				return true
			}
		}
	}
	return false
}

// killTagged kills what is left of a failed run: the processes of tag,
// which this test started.
func killTagged(t *testing.T, tag string) {
	for _, pid := range proctest.Tagged(tag) {
		assert.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
