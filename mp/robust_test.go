package mp

import (
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Robustness of the frontend and backend loops: stopping, replying and
// reading whatever the other side is doing.

// Fault: Close while a Send is blocked on the full command pipe, holding the
// pipe's writer, behind a handler that never returns ("hang"). Close must
// not wait behind that Send: it returns within 5 s with ErrBackendDied
// (hang ignores SIGTERM, so SIGKILL ends it), and the blocked Send then
// fails with ErrStopped or ErrBackendDied.
func TestStopIsNotBlockedBySendOnAFullPipe(t *testing.T) {
	p := startTest(t, Options{StopTimeout: 100 * time.Millisecond})
	require.NoError(t, p.Send(context.Background(), "hang", nil))
	require.Equal(t, "hanging", (<-p.Messages()).Command)
	// The backend reads no more commands: once its read buffer and the
	// pipe are full, a Send blocks, with no deadline, holding the pipe's
	// writer.
	sent := make(chan error, 1)
	go func() {
		for {
			if err := p.Send(context.Background(), "echo", Params{"b": make([]byte, 64<<10)}); err != nil {
				sent <- err
				return
			}
		}
	}()
	waitPipeHolds(t, p.conn.in.f, 1) // Sends are going out, and nothing reads them
	stopped := make(chan error, 1)
	go func() { stopped <- p.Close() }()
	select {
	case err := <-stopped:
		require.ErrorIs(t, err, ErrBackendDied, "hang ignores SIGTERM: SIGKILL")
	case <-time.After(5 * time.Second):
		t.Fatal("Stop blocked behind a Send on a full pipe")
	}
	select {
	case err := <-sent:
		require.Error(t, err)
		assert.True(t, errorIsAny(err, ErrStopped, ErrBackendDied), "blocked Send ends with ErrStopped or ErrBackendDied, got %v", err)
	case <-time.After(time.Second):
		t.Fatal("the blocked Send did not return after Close")
	}
}

func errorIsAny(err error, targets ...error) bool {
	return slices.ContainsFunc(targets, func(t error) bool { return errors.Is(err, t) })
}

// Fault: SIGTERM, sent by the test after CloseSend as the stop ladder
// does, while a Call's handler waits for its ctx ("block"). The reply must
// still reach the caller, whether the handler replies itself with its
// cancelled ctx or returns and the library sends the empty reply, and Close
// must then return nil.
func TestReplyAfterSIGTERMReachesTheCaller(t *testing.T) {
	for _, tc := range []struct {
		what   string
		params Params
		want   string
	}{
		{"handler's own Reply with its cancelled ctx", Params{"reply": true}, "unblocked"},
		{"automatic empty reply", nil, ""},
	} {
		t.Run(tc.what, func(t *testing.T) {
			p := startTest(t, Options{})
			type result struct {
				m   Message
				err error
			}
			res := make(chan result, 1)
			go func() {
				m, err := p.Call(context.Background(), "block", tc.params)
				res <- result{m, err}
			}()
			require.Equal(t, "blocking", (<-p.Messages()).Command)
			// The handler returns only when SIGTERM cancels its context;
			// its reply must still arrive. The command pipe is closed
			// first, as the stop ladder does before its SIGTERM (sent
			// here by the test, not after the ladder's first timeout:
			// a load that slows the exit must not fail the test).
			p.CloseSend()
			require.NoError(t, p.Signal(syscall.SIGTERM))
			r := <-res
			require.NoError(t, r.err)
			assert.Equal(t, tc.want, r.m.Command)
			require.NoError(t, p.Close(), "the backend ends after SIGTERM")
		})
	}
}

// Backend.Stop called from a goroutine other than the loop's (a timer
// that fires 20 ms after the "stoplater" handler) ends the backend cleanly
// within two seconds.
func TestBackendStopFromAnotherGoroutine(t *testing.T) {
	p := startTest(t, Options{})
	require.NoError(t, p.Send(context.Background(), "stoplater", nil))
	requireEnded(t, p, 2*time.Second, "Backend.Stop from a goroutine")
}

// Fault: during a Call, its handler writes an oversize length prefix on the
// message pipe ("garbage"). The Call's error, which names the call, and
// then Wait's must wrap both ErrBackendDied and ErrFrameTooLarge.
func TestCallFailsWithSentinelsOnBadDataFromBackend(t *testing.T) {
	p := startTest(t, Options{})
	_, err := p.Call(context.Background(), "garbage", nil)
	require.ErrorIs(t, err, ErrBackendDied)
	require.ErrorIs(t, err, ErrFrameTooLarge)
	assert.Contains(t, err.Error(), `call "garbage"`)
	err = p.Wait(context.Background())
	require.ErrorIs(t, err, ErrBackendDied)
	require.ErrorIs(t, err, ErrFrameTooLarge)
}

// A backend sends ten messages nobody reads, as many as its credits allow,
// then stops itself. Its exit must be accounted for (Wait returns) and its
// message pipe closed though nobody read it, and no message may be lost:
// all ten are then delivered, in order.
func TestMessagesOfAnExitedBackendAreKept(t *testing.T) {
	fds := countFDs(t)
	p, err := testKind.Start(context.Background(), Options{Name: "t-kept", MessageBuffer: 10})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close(); requireNoLeftovers(t) })
	require.NoError(t, p.Send(context.Background(), "burst", Params{"n": 10, "stop": true}))
	require.NoError(t, p.Wait(context.Background()))
	assert.Equal(t, fds, countFDs(t), "the message pipe is closed once the backend has exited")
	var got []int
	for m := range p.Messages() {
		i, err := m.Params.Int("i")
		require.NoError(t, err)
		got = append(got, i)
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, got)
}

func countFDs(t *testing.T) int {
	t.Helper()
	d, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(d)
}

// Fault: a caller's ctx ends half way through writing a large message to a
// busy backend (a 100 ms Call timeout with a 1 MiB parameter). The stream
// must stay whole: the caller gets its ctx's error, the rest of the frame
// goes out in the background, and the healthy backend is not stopped (it
// used to be: the pipe was closed, since nobody could find the next frame).
func TestCallTimeoutNeverBreaksTheStream(t *testing.T) {
	p := startTest(t, Options{})
	ctx := context.Background()
	require.NoError(t, p.Send(ctx, "sleep", Params{"ms": 300}))
	// Fill the backend's command queue, so that the pipe fills too.
	for range 100 {
		require.NoError(t, p.Send(ctx, "sleep", Params{"ms": 0}))
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := p.Call(short, "echo", Params{"b": make([]byte, 1<<20)})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the caller gets its own ctx's error")

	// The backend catches up, and is healthy: the next call works, and
	// nothing was cut.
	bounded, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	reply, err := p.Call(bounded, "pid", nil)
	require.NoError(t, err)
	pid, err := reply.Params.Int("pid")
	require.NoError(t, err)
	assert.Equal(t, p.Pid(), pid)
	require.NoError(t, p.Close())
}

// Fault: the backend starts a process ("sleep 30") that inherits its stdout
// and outlives it. The backend exits 0, so Close must return nil: a
// grandchild holding the output open is not the backend's failure.
func TestGrandchildHoldingStdoutDoesNotFailACleanStop(t *testing.T) {
	out := &syncBuffer{} // not a file: os/exec copies it, and WaitDelay applies
	p := startTest(t, Options{Stdout: out})
	r, err := p.Call(context.Background(), "grandchild", nil)
	require.NoError(t, err)
	pid, err := r.Params.Int("pid")
	require.NoError(t, err)
	defer syscall.Kill(pid, syscall.SIGKILL)
	require.NoError(t, p.Close(), "the backend exited 0; its child holding stdout is not its failure")
}

// A process started without Options.Events has no event: NewEvent fails
// with ErrNoFreeEvent and a text that says so once, and the backend's set
// of an event fails with ErrEventIndex.
func TestProcessWithoutEventsHasNone(t *testing.T) {
	p := startTest(t, Options{})
	_, err := p.NewEvent()
	require.ErrorIs(t, err, ErrNoFreeEvent)
	assert.EqualError(t, err, "mp: t-TestProcessWithoutEventsHasNone: new event: no free event slot (Options.Events is 0)", "says each fact once, and names the process")
	_, err = p.Call(context.Background(), "set", Params{"event": 1 << eventIndexBits})
	assert.ErrorIs(t, err, ErrEventIndex, "the backend has no event to set")
}

// A program the backend starts (sh listing its own descriptors) inherits
// none of the backend's descriptors 3 to 10: its pipes (3, 4, 6), its
// credits (5), the events' doorbells and their page (7–9) and a file passed
// in Options.Files (10).
func TestChildrenOfABackendInheritNoneOfOurDescriptors(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "extra")
	require.NoError(t, err)
	defer f.Close()
	p := startTest(t, Options{Events: 2, Files: []*os.File{f}})
	r, err := p.Call(context.Background(), "childfds", nil)
	require.NoError(t, err)
	fds, ok := r.Params["fds"].([]string)
	require.True(t, ok, "fds: %#v", r.Params["fds"])
	// The shell holds 0–2 and whatever it opens itself, never the
	// backend's 3 (commands), 4 (messages), 5 (credits), 6 (cancels), 7–8
	// (events), 9 (their page) or 10 (the file): all are checked.
	require.Contains(t, fds, "0", "the listing worked: %v", fds)
	for _, fd := range fds {
		n, err := strconv.Atoi(fd)
		require.NoError(t, err, "listing %v", fds)
		assert.False(t, n >= fdCommands && n <= fdFirst+3, "descriptor %d inherited: %v", n, fds)
	}
}

// Fault: CloseSend while a 1 MiB Send is half written to the command pipe,
// behind a held handler (gated). Once released, the backend reads a cut
// frame and then the pipe's end, which must be a stop: Close returns nil,
// and the Send either went out whole or fails with ErrStopped.
func TestStopDuringAHalfWrittenSendIsAStopNotAFailure(t *testing.T) {
	// The handler is held and the commands behind it wait (gated), so the
	// frame stays in the pipe, where waitPipeFull sees it.
	p, release := gated(t)
	sent := make(chan error, 1)
	go func() { sent <- p.Send(context.Background(), "echo", Params{"b": make([]byte, 1<<20)}) }()
	waitPipeFull(t, p.conn.in.f) // the frame is on its way, in part
	// Stopping closes the pipe half way through the frame.
	p.CloseSend()
	release()
	require.NoError(t, p.Close())
	if err := <-sent; err != nil {
		require.ErrorIs(t, err, ErrStopped)
	}
}

// Fault: a pre-run hook that sends messages and then fails ("chatty-fail"),
// five times over. Each Start must fail with the hook's error, and neither
// a process nor a goroutine (such as a message reader) may be left: the
// goroutine count must be back to what it was within two seconds.
func TestFailedStartLeavesNoReaderBehind(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		_, err := hooksKind.Start(context.Background(), Options{
			Name: "t-chatty", MessageBuffer: 1, Params: Params{"prerun": "chatty-fail"},
		})
		require.ErrorContains(t, err, "said too much")
	}
	requireNoLeftovers(t)
	// A bounded poll, as nothing better exists: the runtime tells no one
	// of a goroutine's end, and these goroutines are the library's.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		require.True(t, time.Now().Before(deadline), "goroutines: %d before, %d after", before, runtime.NumGoroutine())
		time.Sleep(5 * time.Millisecond)
	}
}

// waitPipeHolds waits until the pipe of f holds at least min unread bytes
// (TIOCINQ is FIONREAD, which pipes answer on either end). A bounded poll,
// as nothing better exists: nothing signals that a pipe has filled (poll(2)
// tells whether it can be written to, not how much it holds), and its
// writer is blocked in write(2), saying nothing.
func waitPipeHolds(t *testing.T, f *os.File, min int) {
	t.Helper()
	rc, err := f.SyscallConn()
	require.NoError(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		var ierr error
		require.NoError(t, rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }))
		require.NoError(t, ierr)
		if n >= min {
			return
		}
		require.True(t, time.Now().Before(deadline), "the pipe holds %d bytes, not %d", n, min)
		time.Sleep(time.Millisecond)
	}
}

// waitPipeFull waits until the pipe f writes to holds nearly its capacity
// (64 KiB): a writer of a larger frame is blocked half way.
func waitPipeFull(t *testing.T, f *os.File) { waitPipeHolds(t, f, 60<<10) }
