package mp

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every test here injects one fault, named in the test's name.

// Fault: a length prefix of 11 and 11 bytes that are no frame body, written
// straight to the command pipe. The backend must exit with exitBadFrame and
// no panic trace, and Wait must return ErrBadFrame naming the process.
func TestFaultGarbageOnCommandPipe(t *testing.T) {
	out := &syncBuffer{}
	p := startTest(t, Options{Stdout: out, Stderr: out})
	// A length prefix of 11 followed by bytes that are no frame body.
	_, err := p.conn.in.f.Write([]byte("\x0b\x00\x00\x00not a frame"))
	require.NoError(t, err)
	err = p.Wait(context.Background())
	require.ErrorIs(t, err, ErrBadFrame)
	assert.Contains(t, err.Error(), `mp: t-TestFaultGarbageOnCommandPipe: malformed frame: `)
	assertExitCode(t, p, exitBadFrame)
	assert.NotContains(t, out.String(), "goroutine ", "no panic trace")
}

// Fault: a length prefix of MaxFrameSize + 1, written straight to the
// command pipe. The backend must exit with exitBadFrame and no panic trace,
// and Wait must return ErrFrameTooLarge naming the length and the limit.
func TestFaultOversizeLengthPrefix(t *testing.T) {
	out := &syncBuffer{}
	p := startTest(t, Options{Stdout: out, Stderr: out})
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], MaxFrameSize+1)
	_, err := p.conn.in.f.Write(hdr[:])
	require.NoError(t, err)
	err = p.Wait(context.Background())
	require.ErrorIs(t, err, ErrFrameTooLarge)
	assert.Contains(t, err.Error(), "frame too large: length 16777217 is beyond the limit of 16777216 bytes")
	assertExitCode(t, p, exitBadFrame)
	assert.NotContains(t, out.String(), "goroutine ", "no panic trace")
}

// Fault: the handler of a Send panics (a write to a nil map). The backend
// must exit with exitPanic, Wait must return ErrHandlerPanic naming the
// handler and the panic, and Close must return the same error.
func TestFaultHandlerPanicsOnSend(t *testing.T) {
	p := startTest(t, Options{})
	require.NoError(t, p.Send(context.Background(), "panic", nil))
	err := p.Wait(context.Background())
	require.ErrorIs(t, err, ErrHandlerPanic)
	assert.Contains(t, err.Error(), `handler "panic" panicked: assignment to entry in nil map`)
	assertExitCode(t, p, exitPanic)
	assert.Equal(t, err, p.Close(), "Stop reports the same failure")
}

// Fault: the handler of a Call panics. The Call must fail with
// ErrHandlerPanic naming the handler, and Wait must return ErrHandlerPanic
// too.
func TestFaultHandlerPanicsInCall(t *testing.T) {
	p := startTest(t, Options{})
	_, err := p.Call(context.Background(), "panic", nil)
	require.ErrorIs(t, err, ErrHandlerPanic)
	assert.Contains(t, err.Error(), `handler "panic" panicked`)
	require.ErrorIs(t, p.Wait(context.Background()), ErrHandlerPanic)
}

// Fault: the backend is killed with SIGKILL while the handler of a Send
// runs ("hang"). Within a second Wait must return ErrBackendDied saying
// "signal: killed" and Messages must close; a later Send must fail with
// ErrBackendDied.
func TestFaultBackendKilledMidHandler(t *testing.T) {
	p := startTest(t, Options{})
	require.NoError(t, p.Send(context.Background(), "hang", nil))
	require.Equal(t, "hanging", (<-p.Messages()).Command)
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.Wait(ctx)
	require.ErrorIs(t, err, ErrBackendDied)
	assert.Contains(t, err.Error(), "signal: killed")
	select {
	case _, ok := <-p.Messages():
		assert.False(t, ok, "Messages closes")
	case <-ctx.Done():
		t.Fatal("Messages did not close")
	}
	assert.ErrorIs(t, p.Send(context.Background(), "echo", nil), ErrBackendDied)
}

// Fault: the backend is killed with SIGKILL while the handler of a Call
// runs ("hang"). The Call must end with ErrBackendDied within a second.
func TestFaultBackendKilledDuringCall(t *testing.T) {
	p := startTest(t, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), "hang", nil)
		errc <- err
	}()
	require.Equal(t, "hanging", (<-p.Messages()).Command)
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))
	select {
	case err := <-errc:
		require.ErrorIs(t, err, ErrBackendDied)
	case <-time.After(time.Second):
		t.Fatal("Call still waiting one second after the backend died")
	}
}

// Fault: the backend is killed with SIGKILL while a goroutine waits on one
// of its events: once the Wait sleeps in the runtime's poller, past its
// first moments in the kernel ("asleep"), and at once, the Wait perhaps not
// begun ("racing"). The Wait must end with ErrBackendDied within a second,
// and NewEvent must then fail with ErrBackendDied.
func TestFaultBackendKilledDuringEventWait(t *testing.T) {
	for _, asleep := range []bool{true, false} {
		t.Run(map[bool]string{true: "asleep", false: "racing"}[asleep], func(t *testing.T) {
			p := startTest(t, Options{Events: 2})
			ev, err := p.NewEvent()
			require.NoError(t, err)
			errc := make(chan error, 1)
			go func() { errc <- ev.Wait(context.Background()) }()
			// A bounded poll, as nothing better exists: a goroutine cannot
			// signal that it has gone to sleep (it is asleep only once it
			// stops running); its stack shows it.
			for start := time.Now(); asleep && !aGoroutineIn("(*eventSlots).sleep", "os.(*File).Read"); {
				require.Less(t, time.Since(start), 10*time.Second, "the Wait never slept in the poller")
				runtime.Gosched()
			}
			require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))
			select {
			case err := <-errc:
				require.ErrorIs(t, err, ErrBackendDied)
			case <-time.After(time.Second):
				t.Fatal("Wait still waiting one second after the backend died")
			}
			_, err = p.NewEvent()
			assert.ErrorIs(t, err, ErrBackendDied)
		})
	}
}

// Fault: the frontend is killed with SIGKILL while its backend is busy in a
// handler that ignores its context (the test binary in "orphan" mode plays
// the frontend: see runOrphan). The parent-death signal (SIGTERM) cancels
// the handler's context, which it ignores, so the grace timer must end the
// backend StopTimeout + 1 s later, leaving no process behind.
func TestFaultFrontendKilled(t *testing.T) {
	cmd, backend := startOrphanHelper(t, "orphan")
	defer cmd.Wait()
	require.True(t, proctest.Alive(backend))

	require.NoError(t, cmd.Process.Kill())
	bound := helperStopTimeout + 2*time.Second // the grace, plus a second for a loaded machine
	assert.True(t, proctest.AwaitGone(t, backend, bound), "backend alive %v after its frontend was killed", bound)
	requireNoLeftovers(t)
}

// Fault: the OS thread that started the backend exits (a goroutine locked
// to its thread returns without unlocking, so the runtime ends the thread).
// The parent-death signal fires when the thread that started the child
// exits (Go issue 27505); the backend must still answer a Call once that
// thread is gone.
func TestBackendOutlivesTheThreadThatStartedIt(t *testing.T) {
	type started struct {
		p   *Process
		tid int
		err error
	}
	// The main thread is never ended (the runtime parks it instead), so a
	// goroutine that lands on it keeps it busy until the test ends and
	// another goroutine tries again.
	release := make(chan struct{})
	defer close(release)
	ch := make(chan started, 1)
	var s started
	for s.tid == 0 {
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == os.Getpid() {
				ch <- started{}
				<-release
				runtime.UnlockOSThread()
				return
			}
			p, err := testKind.Start(context.Background(), Options{Name: "t-thread"})
			ch <- started{p, unix.Gettid(), err}
			// Return still locked: the runtime ends this thread.
		}()
		s = <-ch
	}
	require.NoError(t, s.err)
	p := s.p
	t.Cleanup(func() { p.Close(); requireNoLeftovers(t) })
	awaitThreadGone(t, s.tid, 5*time.Second)
	// The thread is gone. Had it started the backend, the kernel would
	// have killed the backend by now.
	_, err := p.Call(context.Background(), "pid", nil)
	require.NoError(t, err, "backend alive after its caller's thread exited")
	require.True(t, proctest.Alive(p.Pid()))
}

// awaitThreadGone waits up to bound for thread tid of this process to
// exit, on its pidfd (PIDFD_THREAD, Linux 6.9: readable once the thread has
// exited, after the kernel has sent its children their parent-death
// signal), and fails the test if it does not. A kernel older than 6.9
// refuses PIDFD_THREAD (EINVAL): there, /proc/self/task/<tid> is looked at
// every millisecond until it is gone, the kernel's only other sign.
func awaitThreadGone(t *testing.T, tid int, bound time.Duration) {
	t.Helper()
	fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
	switch err {
	case unix.ESRCH:
		return
	case unix.EINVAL:
		task := fmt.Sprintf("/proc/self/task/%d", tid)
		for deadline := time.Now().Add(bound); ; time.Sleep(time.Millisecond) {
			if _, err := os.Stat(task); os.IsNotExist(err) {
				return
			}
			require.True(t, time.Now().Before(deadline), "thread %d did not exit within %v", tid, bound)
		}
	}
	require.NoError(t, err, "pidfd_open of thread %d", tid)
	defer unix.Close(fd)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for deadline := time.Now().Add(bound); ; {
		n, err := unix.Poll(pfd, int(max(time.Until(deadline), 0).Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, 1, n, "thread %d did not exit within %v", tid, bound)
		return
	}
}

func assertExitCode(t *testing.T, p *Process, code int) {
	t.Helper()
	<-p.Done()
	assert.Equal(t, code, p.cmd.ProcessState.ExitCode())
}

// startOrphanHelper starts the test binary as a frontend in helper mode
// ("orphan", "idleorphan": see runOrphan) and returns it and the PID of
// the backend it says it started.
func startOrphanHelper(t *testing.T, mode string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envHelper+"="+mode)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	backend, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "backend ")))
	require.NoError(t, err, "helper said %q", line)
	return cmd, backend
}
