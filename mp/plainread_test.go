package mp

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// requireInPlainRead waits until a goroutine is blocked in read(2) in the
// backend's command reader (plainread.go), not in poll(2).
func requireInPlainRead(t *testing.T) {
	t.Helper()
	requireBlockedIn(t, "mp.readRetry(", "[syscall")
}

// requireReadEnds waits for the read that readInBackground started to
// return want's error (io.EOF, os.ErrDeadlineExceeded), and fails the test
// if it does not return within 5 s: what, a read that stays blocked.
func requireReadEnds(t *testing.T, errc <-chan error, want error, what string) {
	t.Helper()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, want)
	case <-time.After(5 * time.Second): // a bound on a wait that must end, not a synchronization
		t.Fatal(what)
	}
}

// readInBackground reads one frame of the backend's command pipe on a
// goroutine of its own and sends the error to the channel it returns.
func readInBackground(e *connEnds) <-chan error {
	errc := make(chan error, 1)
	go func() {
		fr, err := e.back.read()
		if err == nil && fr.command != "c" {
			err = unix.EBADMSG
		}
		errc <- err
	}()
	return errc
}

// The backend's loop waits for a command in read(2) itself, and what
// wakes it there is a command, or the frontend's close of the pipe: the
// frontend's word on the cancel pipe closes the nudge's write end, which,
// held open, would hide the close forever.
func TestCommandsWaitInReadAndSeeTheFrontendsClose(t *testing.T) {
	e := newConnEnds(t, 1, true)
	require.NotNil(t, e.back.cmdSpin.plain, "/proc/self/fd reopens the pipe here")
	ctx := context.Background()
	for range 3 {
		errc := readInBackground(e)
		requireInPlainRead(t)
		require.NoError(t, e.front.send(ctx, &frame{kind: kindSend, command: "c"}, nil))
		require.NoError(t, <-errc)
	}
	errc := readInBackground(e)
	requireInPlainRead(t)
	e.front.closeSend()
	requireReadEnds(t, errc, io.EOF, "a read blocked in read(2) did not see the frontend's close")
}

// Fault: interrupt (the loop's end) comes while the loop waits in read(2),
// and then while commands are queued. The byte that wakes the read is
// never parsed as a command, the read and every one after it fail with
// os.ErrDeadlineExceeded, and the frontend's close still reaches the pipe
// (the backend closes the nudge's write end when the frontend says so).
func TestInterruptedReadNeverParsesTheNudge(t *testing.T) {
	e := newConnEnds(t, 1, true)
	errc := readInBackground(e)
	requireInPlainRead(t)
	e.back.interrupt()
	requireReadEnds(t, errc, os.ErrDeadlineExceeded, "the interrupt did not wake the read")
	require.NoError(t, e.front.send(context.Background(), &frame{kind: kindSend, command: "c"}, nil))
	_, err := e.back.read()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	e.front.closeSend()
	requireWithin(t, 5*time.Second, func() { // the pipe reports the frontend's close
		for {
			pfd := []unix.PollFd{{Fd: int32(e.back.cmdSpin.plain.r), Events: unix.POLLIN}}
			if _, err := unix.Poll(pfd, 100); err == nil && pfd[0].Revents&unix.POLLHUP != 0 {
				return
			}
		}
	})
}

// A full pipe takes no nudge, and needs none: the read returns at once,
// and fails as an interrupted read does.
func TestInterruptWithAFullCommandPipe(t *testing.T) {
	e := newConnEnds(t, 1, true)
	big := Params{"b": make([]byte, 48<<10)}
	sent := make(chan error, 1)
	go func() { // two frames of 48 KiB fill the 64 KiB pipe: the second waits
		for range 2 {
			if err := e.front.send(context.Background(), &frame{kind: kindSend, command: "big", params: big}, nil); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	requireBlockedIn(t, "frameWriter).writeNumbered", "[IO wait")
	e.back.interrupt()
	_, err := e.back.read()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	e.front.closeSend() // ends the waiting write
	<-sent
}

// Where the pipe cannot be opened again (no /proc), the loop waits in
// poll(2) beside a waker, as before: commands, interrupt and the
// frontend's close still reach it.
func TestCommandsWaitInPollWithoutProc(t *testing.T) {
	setForTest(t, &procFD, func(int) string { return "/nonexistent/fd" })
	e := newConnEnds(t, 1, true)
	require.Nil(t, e.back.cmdSpin.plain)
	require.GreaterOrEqual(t, e.back.cmdSpin.wake, 0)
	errc := readInBackground(e)
	requireBlockedIn(t, "waitReadable", "[syscall")
	require.NoError(t, e.front.send(context.Background(), &frame{kind: kindSend, command: "c"}, nil))
	require.NoError(t, <-errc)
	errc = readInBackground(e)
	requireBlockedIn(t, "waitReadable", "[syscall")
	e.back.interrupt()
	require.ErrorIs(t, <-errc, os.ErrDeadlineExceeded)

	e = newConnEnds(t, 1, true)
	errc = readInBackground(e)
	requireBlockedIn(t, "waitReadable", "[syscall")
	e.front.closeSend()
	require.ErrorIs(t, <-errc, io.EOF)
}
