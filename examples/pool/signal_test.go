package main

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

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// cldStopped is siginfo's si_code for a child stopped by a signal
// (sigaction(2)); golang.org/x/sys/unix does not name it.
const cldStopped = 5

// Fault: Ctrl-C (or SIGTERM) while the pool's workers run. The tasks still
// queued then end with mp.ErrStopped in Done, and the example used to
// return that as its error: it printed `pool: manager: task "square-1":
// stopped` and exited 1, where the README says a program stopped by Ctrl-C
// runs its clean-up and exits 130 (143 for SIGTERM). The built example is
// held still with SIGSTOP as soon as its first worker is being started (the
// whole run takes a few milliseconds, too few for a signal to land mid-run
// otherwise), gets the signal, is let go, and must exit 130 or 143, say
// only what stopped it (no "stopped" task error, no manager warning), and
// leave no worker behind. The signal nearly always finds the tasks still
// queued (nothing printed); when the tasks won the race instead (every
// result printed, the same status; or status 0 when the frontend was held
// on its way out, past its last look at the signal), it tries again, up to
// 5 runs, until one was cut short, and fails if none was. The old code
// exits 1 when cut short and 0 otherwise, so it fails either way.
func TestSignalStopsThePool(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pool")
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
			t.Fatalf("in 5 runs, the signal never came before the tasks were done: %s", strings.Join(missed, "; "))
		})
	}
}

// interruptMidRun runs the pool once, stops it with sig as
// TestSignalStopsThePool says, checks how it ended, and returns "" when the
// signal found tasks not yet done, else what happened instead.
func interruptMidRun(t *testing.T, bin string, sig syscall.Signal) string {
	t.Helper()
	tag := "pool" + randomHex(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), proctest.TagVar+"="+tag)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { killTagged(t, tag) })
	if !holdWithAWorker(t, cmd.Process.Pid) {
		require.NoError(t, cmd.Wait())
		return "it ended before it was held with a worker"
	}
	require.NoError(t, cmd.Process.Signal(sig))
	require.NoError(t, cmd.Process.Signal(syscall.SIGCONT))
	err := cmd.Wait()
	left, werr := proctest.AwaitNone(func() []int { return proctest.Tagged(tag) }, 2*time.Second)
	require.NoError(t, werr)
	assert.Empty(t, left, "workers left behind")
	var all strings.Builder
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&all, "%d squared is %d\n", i, i*i)
	}
	all.WriteString("sum 204, on 3 workers\n")
	if err == nil {
		// Held after its last look at ctx, on its way out: the signal
		// came too late to matter, as it may for any program.
		assert.Equal(t, all.String(), stdout.String())
		assert.Empty(t, stderr.String())
		return "held on its way out: status 0"
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	assert.Equal(t, 128+int(sig), ee.ExitCode(), "stderr:\n%s", &stderr)
	assert.Equal(t, "pool: "+sig.String()+" signal received\n", stderr.String())
	if stdout.Len() == 0 {
		return ""
	}
	assert.Equal(t, all.String(), stdout.String(), "a partial result")
	return "every task done before the signal"
}

// holdWithAWorker lets the frontend, process pid, run in slices of about a
// millisecond, stopped (SIGSTOP) between them, until it has a child: its
// first worker, being started. It reports whether it then holds the
// frontend stopped, or false when the frontend ended first. The frontend
// is then in Manager.Run, past signal.NotifyContext, and no worker is ready
// yet, so that every task is queued. The children are looked for while the
// frontend is stopped, so that it cannot finish its run meanwhile (no
// event tells another process of a fork(2), and looking at /proc while it
// runs missed the few milliseconds the whole run takes when the machine was
// busy); a slice ends early if the frontend exits (its pidfd).
func holdWithAWorker(t *testing.T, pid int) bool {
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
	t.Fatal("no worker within 10 s")
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
