package mp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
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
)

// Fault: the backend sets an event and exits at once, so the frontend sees
// the exit before it waits. A set that happened before the exit must still
// satisfy the wait, every time (the group used to be closed and the set
// lost).
func TestEventSetBeforeExitIsNotLost(t *testing.T) {
	for range 20 {
		p := startTest(t, Options{Events: 1})
		ev, err := p.NewEvent()
		require.NoError(t, err)
		require.NoError(t, p.Send(context.Background(), "setexit", Params{"event": ev.ID()}))
		<-p.Done()
		assert.NoError(t, ev.Wait(context.Background()))
	}
}

// Fault: the backend exits on its own (status 0) without setting the event
// or answering. Every API that reports the backend's end says it died:
// ErrStopped is only for a stop the frontend asked for.
func TestBackendExitOnItsOwnIsADeath(t *testing.T) {
	p := startTest(t, Options{Events: 2})
	ev, err := p.NewEvent()
	require.NoError(t, err)
	require.NoError(t, p.Send(context.Background(), "stop", nil))
	<-p.Done()
	err = ev.Wait(context.Background())
	assert.ErrorIs(t, err, ErrBackendDied)
	assert.NotErrorIs(t, err, ErrStopped)
	_, err = p.Call(context.Background(), "echo", nil)
	assert.ErrorIs(t, err, ErrBackendDied)
	assert.ErrorIs(t, p.Send(context.Background(), "echo", nil), ErrBackendDied)
	_, err = p.NewEvent()
	assert.ErrorIs(t, err, ErrBackendDied)

	// After a stop the frontend asked for, it is ErrStopped.
	q := startTest(t, Options{})
	require.NoError(t, q.Close())
	assert.ErrorIs(t, q.Send(context.Background(), "echo", nil), ErrStopped)
}

// Fault: the executable is replaced (an upgrade) or deleted while the
// frontend runs. The next backend must still run the frontend's own image:
// with the path, it ran the new file (here a script that is not a backend
// at all), or failed with "no such file".
func TestBackendRunsTheRunningImage(t *testing.T) {
	for _, how := range []string{"replace", "delete"} {
		t.Run(how, func(t *testing.T) {
			exe := filepath.Join(t.TempDir(), "frontend")
			copyFile(t, os.Args[0], exe)
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), envHelper+"=upgrade")
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			defer cmd.Wait()
			out := bufio.NewReader(stdout)
			line, err := out.ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "waiting\n", line)

			require.NoError(t, os.Remove(exe))
			if how == "replace" {
				require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\necho not the frontend's build\n"), 0o755))
			}
			io.WriteString(stdin, "\n")
			rest, _ := io.ReadAll(out)
			assert.Equal(t, "started\n", string(rest))
			assert.NoError(t, cmd.Wait())
			requireNoLeftovers(t)
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o755))
}

// Fault: main forgot to call mp.Init, so the re-executed child runs main
// again and would start a backend of its own, and so on (a chain of more
// than 1,000 processes in 5 s was measured). Start must fail at once with
// ErrNoInit's message naming the fix, and no grandchild may exist.
//
// Fault, noinit-late: the backend exits before the frontend has sent its
// start parameters (a loaded machine; forced here): the error was the
// broken pipe ("sending start parameters: write |1: broken pipe"), not
// ErrNoInit (once in make stress, in examples/forgotinit's page).
func TestForgottenInitIsAClearError(t *testing.T) {
	for _, mode := range []string{"noinit", "noinit-late"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0])
			cmd.Env = append(os.Environ(), envHelper+"="+mode, "MP_TEST_SKIP_INIT=1")
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "%s", out)
			assert.Contains(t, string(out), "main did not call mp.Init first: add mp.Init() as the first line of main")
			assert.Contains(t, string(out), "error: mp: "+mode+": start: "+ErrNoInit.Error())
			assert.Equal(t, 1, strings.Count(string(out), "main did not call mp.Init first"), "one child, no chain:\n%s", out)
			requireNoLeftovers(t)
		})
	}
}

// Fault: MP_BACKEND is set in an ordinary run (inherited from anywhere), and
// file descriptors 3 and 4 are some other pipe. The program must run as
// itself, warn, and leave the pipe alone.
func TestVariableAloneDoesNotMakeABackend(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	_, err = w.WriteString("not a frame")
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envHelper+"=plain", envKind+"=Test", envName+"=x")
	cmd.ExtraFiles = []*os.File{r, w}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s", stderr.String())
	assert.Equal(t, "an ordinary run\n", string(out))
	assert.Contains(t, stderr.String(), `MP_BACKEND="Test" is set, but`)
	// What was in the pipe is still there: nobody read it.
	w.Close()
	left, _ := io.ReadAll(r)
	assert.Equal(t, "not a frame", string(left))
}

// IsBackend is true in handlers (it used to read an environment variable
// that the backend removes before its hooks run).
func TestIsBackendInHandlers(t *testing.T) {
	assert.False(t, IsBackend())
	p := startTest(t, Options{})
	reply, err := p.Call(context.Background(), "isbackend", nil)
	require.NoError(t, err)
	is, err := reply.Params.Bool("is")
	require.NoError(t, err)
	assert.True(t, is)
}

// Fault: backends used to ignore SIGINT with signal.Ignore, which exec
// passes on: a program a handler starts could not be stopped with Ctrl-C.
// The backend leaves Ctrl-C to its frontend by handling SIGINT, which exec
// resets, so its children get the default action.
func TestBackendChildrenStillGetCtrlC(t *testing.T) {
	p := startTest(t, Options{})
	reply, err := p.Call(context.Background(), "sigign", nil)
	require.NoError(t, err)
	const sigint = 1 << (syscall.SIGINT - 1)
	for _, who := range []string{"own", "child"} {
		mask, err := reply.Params.String(who)
		require.NoError(t, err)
		bits, err := strconv.ParseUint(mask, 16, 64)
		require.NoError(t, err)
		assert.Zero(t, bits&sigint, "%s SigIgn %s has SIGINT ignored", who, mask)
	}
}

// Fault: a listener passed to the backend in Options.Files lost its
// non-blocking mode in the frontend too (os/exec clears it, and the mode is
// shared), so its deadlines never fired and Close left Accept blocked
// forever.
func TestPassedListenerKeepsWorkingInFrontend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tl := ln.(*net.TCPListener)
	f, err := tl.File()
	require.NoError(t, err)
	defer f.Close()
	startTest(t, Options{Files: []*os.File{f}})

	accept := func() <-chan error {
		ch := make(chan error, 1)
		go func() { _, err := tl.Accept(); ch <- err }()
		return ch
	}
	// A deadline still fires.
	require.NoError(t, tl.SetDeadline(time.Now().Add(50*time.Millisecond)))
	select {
	case err := <-accept():
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(5 * time.Second):
		go tl.Close() // may block too: that is the fault
		t.Fatal("Accept still blocked 5 s after its deadline")
	}
	require.NoError(t, tl.SetDeadline(time.Time{}))

	// Close still interrupts a blocked Accept.
	accepted := accept()
	go tl.Close() // with the fault, Close blocks behind Accept
	select {
	case err := <-accepted:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked 5 s after Close")
	}
}

// A start that runs into the open-file limit says which limit it was.
func TestLimitErrorNamesTheLimit(t *testing.T) {
	err := limitError(&os.SyscallError{Syscall: "pipe2", Err: syscall.EMFILE})
	assert.ErrorIs(t, err, syscall.EMFILE)
	assert.Contains(t, err.Error(), "RLIMIT_NOFILE")
	err = limitError(&os.SyscallError{Syscall: "fork", Err: syscall.EAGAIN})
	assert.Contains(t, err.Error(), "RLIMIT_NPROC")
	plain := errors.New("other")
	assert.Equal(t, plain, limitError(plain))
}

// A handler's panic is reported with the place it panicked (file:line), and
// the message says "mp:" once.
func TestPanicNamesWhereItPanicked(t *testing.T) {
	p := startTest(t, Options{})
	_, err := p.Call(context.Background(), "panic", nil)
	require.ErrorIs(t, err, ErrHandlerPanic)
	assert.Regexp(t, `at github.com/mpgo/mp/mp\.init\.func[0-9.]+ \(testkind_test\.go:[0-9]+\)`, err.Error())
	assert.Equal(t, 1, strings.Count(err.Error(), "mp:"), "mp: once in %q", err)
}
