package mp

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/require"
)

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Fault: the context given to Start used to stop the process when it
// ended, after Start had returned (a context.AfterFunc): a function that
// started a backend with a timeout and deferred its cancel returned a
// stopped process. The context bounds the start only.
func TestStartContextBoundsOnlyTheStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	p, err := testKind.Start(ctx, Options{Name: "start-ctx"})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close(); requireNoLeftovers(t) })
	cancel()
	_, err = p.Call(context.Background(), "pid", nil)
	require.NoError(t, err, "the process must outlive the context of its start")
	assert.False(t, isClosed(p.Ending()))
	require.NoError(t, p.Close())
}

// A start that its context cuts short leaves nothing.
func TestStartContextEndedDuringStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := testKind.Start(ctx, Options{Name: "start-cancelled"})
	require.ErrorIs(t, err, context.Canceled)
	requireNoLeftovers(t)
}

// Fault: two stops at once (the manager's stop and a start context's stop)
// used to climb two ladders, logging each SIGTERM and SIGKILL twice. A
// process has one ladder, whoever asks.
func TestOneStopLadderPerProcess(t *testing.T) {
	var logs syncBuffer
	p := startTest(t, Options{StopTimeout: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, p.Send(context.Background(), "hang", nil))
	require.Equal(t, "hanging", (<-p.Messages()).Command)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = p.Shutdown(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		assert.ErrorIs(t, err, ErrBackendDied)
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "sending SIGTERM"), logs.String())
	assert.Equal(t, 1, strings.Count(logs.String(), "sending SIGKILL"), logs.String())
}

// A backend that ends itself (Backend.Stop in a handler) says so before
// its reply: when the Call returns, the frontend already knows that the
// process will take no next call, and why.
func TestEndingAnnouncedBeforeTheReply(t *testing.T) {
	p := startTest(t, Options{})
	for range 20 { // the announcement must win every time, not by luck
		_, err := p.Call(context.Background(), "pid", nil)
		require.NoError(t, err)
	}
	_, err := p.Call(context.Background(), "quit", nil)
	require.NoError(t, err)
	require.True(t, isClosed(p.Ending()), "the reply came before the announcement of the end")
	assert.Equal(t, EndSelf, p.EndReason())
	require.NoError(t, p.Wait(context.Background()))
	assert.Equal(t, EndSelf, p.EndReason(), "the exit keeps the reason known first")
}

// Fault: SIGTERM from outside the frontend (kill, systemctl stop) ends a
// running handler, whose reply is an ordinary-looking error (context
// canceled). The backend says first that it is ending, and why.
func TestEndingTerminatedFromOutside(t *testing.T) {
	p := startTest(t, Options{})
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), "block", Params{"reply": true})
		done <- err
	}()
	require.Equal(t, "blocking", (<-p.Messages()).Command)
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGTERM))
	require.NoError(t, <-done, "the handler replied after its ctx ended")
	require.True(t, isClosed(p.Ending()), "the reply came before the announcement of the end")
	assert.Equal(t, EndTerminated, p.EndReason())
	require.NoError(t, p.Wait(context.Background()))
}

// The frontend's own stop is EndRequested, even when the ladder's SIGTERM
// makes the backend announce a termination; a killed backend EndDied.
// StopTimeout is also the SIGTERM rung's budget: from SIGTERM to the
// reaped exit took 3–12 ms under -race beside two CPU loops, and more than
// 50 ms twice in 80 runs on a busier machine ("did not stop within 100ms
// and was killed"), hence 250 ms.
func TestEndReasonsOfStopAndKill(t *testing.T) {
	p := startTest(t, Options{StopTimeout: 250 * time.Millisecond})
	require.NoError(t, p.Send(context.Background(), "block", nil))
	<-p.Messages()
	require.NoError(t, p.Close())
	assert.Equal(t, EndRequested, p.EndReason())

	q := startTest(t, Options{})
	require.NoError(t, syscall.Kill(q.Pid(), syscall.SIGKILL))
	<-q.Done()
	assert.Equal(t, EndDied, q.EndReason())
	assert.Equal(t, "signal: killed", q.DescribeExit())
}

// The library's own exits have statuses of their own, which DescribeExit
// names: a handler's panic is not the Go runtime's status 2 (a fatal error
// such as running out of memory).
func TestDescribeExitOfAPanic(t *testing.T) {
	var out syncBuffer
	p := startTest(t, Options{Stdout: &out, Stderr: &out})
	_, err := p.Call(context.Background(), "panic", nil)
	require.ErrorIs(t, err, ErrHandlerPanic)
	<-p.Done()
	assert.Equal(t, EndFatal, p.EndReason())
	assert.Equal(t, "exit status 7 (mp: a handler panicked)", p.DescribeExit())
}

// Fault: a handler that starts a program of its own and waits for it,
// deaf to its ctx, used to leave that program running once the backend was
// killed (it was reparented to init). The backend's process group ends
// with the backend.
func TestNothingAHandlerStartedOutlivesTheBackend(t *testing.T) {
	p := startTest(t, Options{StopTimeout: 50 * time.Millisecond})
	require.NoError(t, p.Send(context.Background(), "tool", nil))
	m := <-p.Messages()
	pid, err := m.Params.Int("pid")
	require.NoError(t, err)
	require.True(t, proctest.Alive(pid), "the tool runs")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p.Shutdown(ctx) // SIGKILL for the backend: it runs no code of its own
	requireNoLeftovers(t)
	// SIGKILL is delivered at once, but the process takes a moment to die:
	// the promise is nothing alive a second later.
	assert.True(t, proctest.AwaitGone(t, pid, time.Second), "the tool outlived its backend")
}

// Fault: SIGTERM to an idle backend (no handler running) ended its loop at
// once, and the process could exit before the signal's goroutine had
// announced why: the frontend saw a death (EndDied), and a manager reported
// a crash. The loop announces it itself before it ends. Repeated, because
// it is a race.
func TestEndingTerminatedWhileIdle(t *testing.T) {
	for i := range 10 {
		p := startTest(t, Options{Name: "idle-term"})
		require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGTERM))
		<-p.Done()
		require.Equal(t, EndTerminated, p.EndReason(), "round %d", i)
	}
}
