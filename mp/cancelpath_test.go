package mp

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gated starts a "Test" backend whose handler is held by a "gate" call
// until release is called, and sends 65 quick commands behind it, which
// wait in the backend's read buffer and the command pipe (the backend reads
// its next command only once a handler returns), so that what the frontend
// writes next stays in the pipe.
func gated(t *testing.T) (p *Process, release func()) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	p = startTest(t, Options{Files: []*os.File{r}, StopTimeout: 5 * time.Second})
	ctx := context.Background()
	require.NoError(t, p.Send(ctx, "gate", nil))
	require.Equal(t, "gated", (<-p.Messages()).Command)
	for range 65 {
		require.NoError(t, p.Send(ctx, "sleep", Params{"ms": 0}))
	}
	return p, func() { _, err := w.Write([]byte{1}); require.NoError(t, err) }
}

// Fault: a Call's ctx ends while its frame is half written (the pipe is
// full). The rest of the frame goes out in the background, so the backend
// will run the call; the caller has given up, so the call must be cancelled
// (skipped) like any other: here its handler ("block") would otherwise run
// until SIGTERM, and the next call would wait behind it.
func TestCallGivenUpHalfWrittenIsCancelled(t *testing.T) {
	p, release := gated(t)
	short, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Call(short, "block", Params{"pad": make([]byte, 256<<10)})
		errc <- err
	}()
	waitPipeFull(t, p.conn.in.f) // part of the call's frame is out, not all of it
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	release()

	bounded, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	_, err := p.Call(bounded, "pid", nil)
	require.NoError(t, err, "the given-up call still runs its handler")
}

// Fault: a Call's ctx ends while its handler ("block") runs and 65
// commands wait behind it, unread. A cancel sent behind them would never
// reach the handler, and the backend would be stuck until SIGTERM: the
// cancel must cancel the handler at once (cancels travel on a pipe of their
// own), and the backend serve the next call.
func TestCancelReachesTheHandlerBehindAFullQueue(t *testing.T) {
	p := startTest(t, Options{StopTimeout: 5 * time.Second})
	ctx := context.Background()
	cancel, errc := blockedCall(t, p)
	for range 65 {
		require.NoError(t, p.Send(ctx, "sleep", Params{"ms": 0}))
	}
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	bounded, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	_, err := p.Call(bounded, "pid", nil)
	require.NoError(t, err, "the cancelled handler still runs")
}

// Fault: a Shutdown whose ctx ends early kills the backend. The error must
// say so, not that the backend "did not stop within" twice StopTimeout
// (which never elapsed).
func TestShutdownErrorSaysWhyItKilled(t *testing.T) {
	p := startTest(t, Options{StopTimeout: 10 * time.Second})
	require.NoError(t, p.Send(context.Background(), "hang", nil))
	require.Equal(t, "hanging", (<-p.Messages()).Command)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Shutdown(ctx)
	require.ErrorIs(t, err, ErrBackendDied)
	assert.NotContains(t, err.Error(), "did not stop within")
	assert.Contains(t, err.Error(), context.DeadlineExceeded.Error())
}

// Fault: CloseSend while a handler sends more messages than its credits.
// The frontend still reads (and drops only what does not fit), but the
// backend's Send failed with "the frontend is gone" once the command pipe
// ended, so the handler failed, and said something untrue.
func TestSendAfterCloseSendDoesNotFail(t *testing.T) {
	var logs syncBuffer
	p := startTest(t, Options{MessageBuffer: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, p.Send(context.Background(), "burst", Params{"n": 50}))
	p.CloseSend()
	n := 0
	for range p.Messages() {
		n++
	}
	require.NoError(t, p.Wait(context.Background()))
	assert.Positive(t, n)
	assert.NotContains(t, logs.String(), "frontend is gone")
	assert.NotContains(t, logs.String(), `handler \"burst\"`, "the handler failed")
}

// Fault: a backend sends 2,000 messages that nobody reads while it is
// being stopped. Each one dropped was logged as a warning of its own: a
// flood of 2,000 lines for one fact. The first is named, the rest counted.
func TestDroppedMessagesAreCountedNotEachLogged(t *testing.T) {
	var logs syncBuffer
	p := startTest(t, Options{MessageBuffer: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, p.Send(context.Background(), "burst", Params{"n": 2000}))
	require.NoError(t, p.Close())
	out := logs.String()
	assert.LessOrEqual(t, strings.Count(out, "dropped"), 2, "%d lines", strings.Count(out, "\n"))
	assert.Contains(t, out, `dropped message \"burst\"`)
}

// Fault: Stop right after a Call gave up. The cancel frame was written by a
// goroutine of its own, which the stop's closing of the pipe often beat: the
// cancel was lost, the handler ("block") ran on, and the stop needed
// SIGTERM after a whole StopTimeout. Repeated, because it is a race. The
// StopTimeout is long enough for a loaded machine (200 ms was not, once, in
// a suite run at load 17): a lost cancel still waits for it, whatever its
// length, while a stop that works never does.
func TestStopRightAfterACancelledCallNeedsNoSIGTERM(t *testing.T) {
	for i := range 20 {
		var logs syncBuffer
		p, err := testKind.Start(context.Background(), Options{Name: "t-cancelstop", StopTimeout: 2 * time.Second,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, err)
		cancel, errc := blockedCall(t, p)
		cancel()
		require.ErrorIs(t, <-errc, context.Canceled)
		require.NoError(t, p.Close())
		require.NotContains(t, logs.String(), "SIGTERM", "round %d", i)
	}
	requireNoLeftovers(t)
}

// Fault: the backend is killed half way through writing a message. The
// frontend called that "bad data from the backend", logged an error, and
// made it the exit error, hiding what happened: the backend was killed.
func TestBackendKilledMidFrameIsADeathNotBadData(t *testing.T) {
	var logs syncBuffer
	p := startTest(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_, err := p.Call(context.Background(), "halfframe", nil)
	require.ErrorIs(t, err, ErrBackendDied)
	assert.Contains(t, err.Error(), "signal: killed")
	assert.NotContains(t, err.Error(), "bad data")
	assert.NotContains(t, p.Err().Error(), "bad data")
	assert.NotContains(t, logs.String(), "bad data")
}

// Fault: a Call gives up after CloseSend, while its handler still runs
// (CloseSend lets the backend finish what it was sent). CloseSend had
// closed the cancel pipe too, so the cancel was lost: the handler ("block")
// ran on and the backend never exited by itself.
func TestCancelAfterCloseSendStillReachesTheHandler(t *testing.T) {
	p := startTest(t, Options{StopTimeout: 10 * time.Second})
	cancel, errc := blockedCall(t, p)
	p.CloseSend()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	bounded, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	require.NoError(t, p.Wait(bounded), "the handler was not cancelled, so the backend did not exit")
}

// Fault: a huge Options.MessageBuffer. Start allocated the Messages channel
// whole and the program died of a fatal out-of-memory error (which recover
// cannot catch); it must be an error.
func TestHugeMessageBufferIsAnError(t *testing.T) {
	_, err := testKind.Start(context.Background(), Options{Name: "t-huge", MessageBuffer: 1 << 40})
	require.ErrorIs(t, err, os.ErrInvalid)
	assert.Contains(t, err.Error(), "MessageBuffer")
	requireNoLeftovers(t)
}
