package mp

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// requireInterruptWakes waits for the read errc reports, which interrupt
// must have ended.
func requireInterruptWakes(t *testing.T, errc <-chan error) {
	t.Helper()
	requireReadEnds(t, errc, os.ErrDeadlineExceeded, "the interrupt did not wake the read blocked in read(2)")
}

// Fault (found by a helper asked to break the loop's read(2)): a backend
// that sandboxes itself with RLIMIT_NOFILE 2 can open no descriptor: the
// loop's end must still wake the read waiting for a command, as it did in
// poll(2) beside an eventfd. Failed when the nudge's write end was opened
// at the end; the backend now holds it from the start (plainread.go).
func TestInterruptUnderNoFileLimitTwo(t *testing.T) {
	e := newConnEnds(t, 1, true)
	errc := readInBackground(e)
	requireInPlainRead(t)
	var old unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &old))
	lim := old
	lim.Cur = 2
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lim))
	e.back.interrupt()
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &old))
	requireInterruptWakes(t, errc)
	e.front.closeSend() // ends a read left blocked
}

// Fault (the same helper's): a backend run as root that drops its
// privileges (privilege separation) can no longer open the pipe, which
// belongs to root with mode 0600, for writing: the loop's end must still
// wake the read waiting for a command.
func TestInterruptAfterDroppingPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop privileges")
	}
	e := newConnEnds(t, 1, true)
	errc := readInBackground(e)
	requireInPlainRead(t)
	require.NoError(t, syscall.Seteuid(65534))
	e.back.interrupt()
	require.NoError(t, syscall.Seteuid(0))
	unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0) // as before the change of euid
	requireInterruptWakes(t, errc)
	e.front.closeSend() // ends a read left blocked
}

// The loop's end comes while the loop waits in read(2) for the rest of a
// large command, half of which is in the pipe: the read fails as an
// interrupted read (the loop then ends with status 0), not as a bad frame,
// though the nudge's byte lands inside the frame.
func TestInterruptInsideALargeFrame(t *testing.T) {
	e := newConnEnds(t, 1, true)
	buf, err := appendFrame(nil, &frame{kind: kindSend, command: "big", params: Params{"b": make([]byte, 100<<10)}})
	require.NoError(t, err)
	_, err = e.front.in.f.Write(buf[:40<<10])
	require.NoError(t, err)
	errc := readInBackground(e)
	requireInPlainRead(t)
	e.back.interrupt()
	requireInterruptWakes(t, errc)
	e.front.closeSend()
}

// loopWaitsInKernel reports whether the backend's loop is blocked in the
// kernel waiting for a command (read(2) or poll(2), see readBlocking).
func loopWaitsInKernel() bool { return blockedIn("readBlocking", "[syscall") }

// The "Test" kind's handler that sandboxes its backend, as privilege
// separation does: Params "how" is "nofile" (RLIMIT_NOFILE 2, soft and
// hard: no descriptor can be opened, yet poll(2) of two descriptors is
// allowed; OpenSSH's rlimit sandbox lowers it as far as its poll(2)
// allows), "setuid" (to nobody) or "chroot" (to Params "dir", empty, as
// OpenSSH's privilege separation chroots to /var/empty). Then, once
// the loop waits for the next command in the kernel, another goroutine
// calls Stop.
func init() {
	testKind.Handle("sandbox", func(b *testBackend, ctx context.Context, m Message) error {
		how, _ := m.Params.String("how")
		var err error
		switch how {
		case "nofile":
			err = unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 2, Max: 2})
		case "setuid":
			err = syscall.Setuid(65534)
		case "chroot":
			dir, _ := m.Params.String("dir")
			if err = syscall.Chroot(dir); err == nil {
				err = syscall.Chdir("/")
			}
		}
		if err != nil {
			return err
		}
		go func() {
			for !loopWaitsInKernel() {
				runtime.Gosched()
			}
			b.Stop()
		}()
		return nil
	})
}

// Fault (the same helper's): Backend.Stop from a goroutine while the loop
// waits for a command must end a backend that sandboxed itself (no
// descriptor may be opened, not the command pipe by its new user, no /proc
// in its new root) with status 0.
func TestStopEndsASandboxedBackend(t *testing.T) {
	for _, how := range []string{"nofile", "setuid", "chroot"} {
		t.Run(how, func(t *testing.T) {
			if how != "nofile" && syscall.Geteuid() != 0 {
				t.Skip("needs root to drop privileges")
			}
			p := startTest(t, Options{})
			_, err := p.Call(context.Background(), "pid", nil) // running
			require.NoError(t, err)
			require.NoError(t, p.Send(context.Background(), "sandbox", Params{"how": how, "dir": t.TempDir()}))
			requireEnded(t, p, 5*time.Second, "Backend.Stop from a goroutine")
		})
	}
}

// requireIdleInPipeRead waits until a thread of process pid sleeps in
// read(2) of a pipe: the backend's loop waiting for a command.
func requireIdleInPipeRead(t *testing.T, pid int) {
	t.Helper()
	requireWithin(t, 5*time.Second, func() {
		for {
			tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
			for _, task := range tasks {
				if w, _ := os.ReadFile(task); strings.Contains(string(w), "pipe_read") {
					return
				}
			}
			runtime.Gosched()
		}
	})
}

// SIGTERM from outside while the loop waits in read(2) ends the backend
// with status 0, as a termination it announced.
func TestSIGTERMWhileIdleInRead(t *testing.T) {
	p := startTest(t, Options{})
	_, err := p.Call(context.Background(), "pid", nil)
	require.NoError(t, err)
	requireIdleInPipeRead(t, p.Pid())
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGTERM))
	requireEnded(t, p, 5*time.Second, "SIGTERM")
	assert.Equal(t, EndTerminated, p.EndReason())
}

// Fault: the frontend is gone (its ends of the command and cancel pipes
// closed, no word said) while the loop waits in read(2) beside the nudge's
// write end: the cancel pipe's end closes that write end, and the read
// sees the command pipe's end.
func TestCommandsEndWhenTheFrontendIsGone(t *testing.T) {
	e := newConnEnds(t, 1, true)
	errc := readInBackground(e)
	requireInPlainRead(t)
	e.front.in.close()      // no kindCommandsClosed: as a killed frontend's
	e.front.cancels.close() // ends are closed by the kernel
	requireReadEnds(t, errc, io.EOF, "the read did not see the end of a frontend that is gone")
}

// A frontend killed while its backend waits for a command in read(2): the
// backend ends at once (the parent-death signal, or the pipes' end).
func TestIdleBackendEndsWithItsKilledFrontend(t *testing.T) {
	cmd, backend := startOrphanHelper(t, "idleorphan")
	defer cmd.Wait()
	requireIdleInPipeRead(t, backend)
	require.NoError(t, cmd.Process.Kill())
	requireWithin(t, helperStopTimeout, func() {
		for proctest.Alive(backend) {
			runtime.Gosched()
		}
	})
	requireNoLeftovers(t)
}
