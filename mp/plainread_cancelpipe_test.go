package mp

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fillCancelPipe shrinks p's cancel pipe to one page (a user over
// fs.pipe-user-pages-soft gets pipes of two; the default 16 only take more
// calls to fill) and makes calls that
// give up, each writing a cancel frame, until the next cancel frame would
// not fit. The backend must be stopped (SIGSTOP): nothing reads the pipe.
func fillCancelPipe(t *testing.T, p *Process) {
	t.Helper()
	rc, err := p.conn.cancels.f.SyscallConn()
	require.NoError(t, err)
	var size int
	var serr error
	require.NoError(t, rc.Control(func(fd uintptr) {
		size, serr = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, os.Getpagesize())
	}))
	require.NoError(t, serr)
	one, err := appendFrame(nil, &frame{kind: kindCancel, id: 1 << 40})
	require.NoError(t, err)
	unread := func() int {
		var n int
		var ierr error
		rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
		require.NoError(t, ierr)
		return n
	}
	for unread()+len(one) <= size {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		_, err := p.Call(ctx, "pid", nil)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
}

// requireEnded waits up to d for p to end and requires that it ended
// without an error; after says what should have ended it.
func requireEnded(t *testing.T, p *Process, d time.Duration, after string) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(d):
		t.Fatalf("backend still running %v after %s", d, after)
	}
	require.NoError(t, p.Err())
}

// requireStopped waits until every thread of process pid is stopped (state
// T): kill(2) returns before a SIGSTOP has taken effect.
func requireStopped(t *testing.T, pid int) {
	t.Helper()
	requireWithin(t, 5*time.Second, func() {
		for {
			tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
			stopped := len(tasks) > 0
			for _, task := range tasks {
				b, _ := os.ReadFile(task)
				// The state follows the command's closing parenthesis.
				i := bytes.LastIndexByte(b, ')')
				if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
					stopped = false
				}
			}
			if stopped {
				return
			}
			runtime.Gosched()
		}
	})
}

// Fault: CloseSend runs while the backend's cancel pipe is full (the
// backend was frozen while its callers gave up). The command pipe is
// closed, but kindCommandsClosed cannot be written now; if it were dropped,
// the backend, thawed, would keep the nudge's write end, and its read(2)
// would not see the pipe's end until the ladder's SIGTERM, StopTimeout
// later. It must end as soon as it runs again.
func TestCloseSendWithAFullCancelPipeEndsTheBackend(t *testing.T) {
	p := startTest(t, Options{StopTimeout: time.Minute})
	_, err := p.Call(context.Background(), "pid", nil)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGSTOP))
	requireStopped(t, p.Pid())
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			syscall.Kill(p.Pid(), syscall.SIGCONT)
		}
	}
	defer func() {
		thaw()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p.Shutdown(ctx) // at the fault: SIGKILL, not a minute's ladder
	}()
	fillCancelPipe(t, p)
	p.CloseSend()
	thaw()
	requireEnded(t, p, 10*time.Second, "CloseSend and SIGCONT: its read(2) did not see the command pipe's end")
	assert.Equal(t, EndRequested, p.EndReason())
}

// A backend that stays frozen with its cancel pipe full: Shutdown kills it
// once its ctx ends, and the word closeSend leaves to the background ends
// with the connection (goleak in TestMain would see the write left
// waiting).
func TestShutdownOfAFrozenBackendWithAFullCancelPipe(t *testing.T) {
	p := startTest(t, Options{StopTimeout: time.Minute})
	_, err := p.Call(context.Background(), "pid", nil)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGSTOP))
	requireStopped(t, p.Pid())
	fillCancelPipe(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = p.Shutdown(ctx)
	require.ErrorIs(t, err, ErrBackendDied)
}
