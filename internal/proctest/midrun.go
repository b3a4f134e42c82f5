package proctest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A MidRun is how a program ended that SignalMidRun stopped with a signal
// once it had started its first child.
type MidRun struct {
	Held           bool   // the signal came while it held a child; false: it ended first
	Status         int    // its exit status (-1 if a signal ended it)
	Stdout, Stderr string // what it printed
}

// SignalMidRun runs the program bin once, tagged (TagVar) so that its
// processes can be found, holds it still with SIGSTOP as soon as it has a
// child (HoldWithAChild: a run of a few milliseconds leaves no other way to
// land a signal mid-run), sends it sig and SIGCONT, and waits for it to exit.
// It fails t if any process of the run is left two seconds after the exit,
// and kills what is left of a failed run when t ends.
func SignalMidRun(t *testing.T, bin string, sig syscall.Signal) MidRun {
	t.Helper()
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	tag := filepath.Base(bin) + hex.EncodeToString(b)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), TagVar+"="+tag)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		for _, pid := range Tagged(tag) {
			assert.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		}
	})
	held := HoldWithAChild(t, cmd.Process.Pid)
	if held {
		require.NoError(t, cmd.Process.Signal(sig))
		require.NoError(t, cmd.Process.Signal(syscall.SIGCONT))
	}
	cmd.Wait()
	left, err := AwaitNone(func() []int { return Tagged(tag) }, 2*time.Second)
	require.NoError(t, err)
	assert.Empty(t, left, "processes of the run left behind")
	return MidRun{Held: held, Status: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
}

// cldStopped is siginfo's si_code for a child stopped by a signal
// (sigaction(2)); golang.org/x/sys/unix does not name it.
const cldStopped = 5

// HoldWithAChild lets process pid, a child of this one, run in slices of
// about a millisecond, stopped (SIGSTOP) between them, until it has a child
// of its own. It reports whether it then holds pid stopped, or false when
// pid ended first. The children are looked for while pid is stopped, so
// that it cannot finish meanwhile (no event tells another process of a
// fork(2), and looking at /proc while it runs missed the few milliseconds a
// whole run takes when the machine was busy); a slice ends early if pid
// exits (its pidfd).
func HoldWithAChild(t *testing.T, pid int) bool {
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
	t.Fatal("no child within 10 s")
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

// SignalStopsMidRun checks how the program bin, named name, ends when sig
// comes mid-run (SignalMidRun), as a program that follows the README must:
// status 128 + sig, "name: <sig> signal received" alone on stderr, on
// stdout no more than the start of a whole run's lines (regular
// expressions, one per line), and nothing left running. A run that ended
// before it could be held, or did everything before it handled the signal
// (status 0 and the whole output), proves nothing: it tries again, up to 5
// runs, and fails if no run was cut short.
func SignalStopsMidRun(t *testing.T, bin, name string, sig syscall.Signal, whole []string) {
	t.Helper()
	var missed []string
	for range 5 {
		run := SignalMidRun(t, bin, sig)
		lines := strings.SplitAfter(run.Stdout, "\n")
		require.Equal(t, "", lines[len(lines)-1], "a line cut short:\n%s", run.Stdout)
		lines = lines[:len(lines)-1]
		require.LessOrEqual(t, len(lines), len(whole), "%s", run.Stdout)
		for i, l := range lines {
			assert.Regexp(t, "^"+whole[i]+"\n$", l)
		}
		switch {
		case run.Status == 0:
			// Not held, or the signal handled after the last look at
			// ctx: too late to matter, as it may be for any program.
			assert.Len(t, lines, len(whole))
			assert.Empty(t, run.Stderr)
			missed = append(missed, fmt.Sprintf("held %v, status 0", run.Held))
			continue
		}
		assert.Equal(t, 128+int(sig), run.Status, "stderr:\n%s", run.Stderr)
		assert.Equal(t, name+": "+sig.String()+" signal received\n", run.Stderr)
		return
	}
	t.Fatalf("in 5 runs, the signal never came mid-run: %s", strings.Join(missed, "; "))
}
