package mp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/mplog"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the handler's ctx (loop.go): not registered in the backend's
// ctx, it is cancelled by terminated (SIGTERM), by a cancel frame, and
// when the handler returns, including for goroutines the handler spawned.

// brk10AwaitDone waits for ctx to end, failing the test after 10 s (a
// bound on failure, not a wait for an event of ours).
func brk10AwaitDone(t *testing.T, ctx context.Context, what string) bool {
	select {
	case <-ctx.Done():
		return true
	case <-time.After(10 * time.Second):
		t.Errorf("%s: ctx not cancelled", what)
		return false
	}
}

// brk10ReadReply reads rd up to a reply, past the announcement of the
// backend's end that precedes a reply after SIGTERM (beforeReply).
func brk10ReadReply(t *testing.T, rd *frameReader) frame {
	for {
		fr, err := rd.read()
		require.NoError(t, err)
		if fr.kind == kindReply {
			return fr
		}
	}
}

// brk10Backend is inProcessBackend without the AfterFunc that runs
// terminated: the test runs terminated itself, at the point it chooses.
// end cancels the backend's ctx (SIGTERM's first effect).
func brk10Backend(tb testing.TB) (be *Backend, rd *frameReader, end func()) {
	outR, outW, err := os.Pipe()
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	be = &Backend{
		kind: "Test", name: "brk10", ctx: ctx,
		log:       mplog.New("Test.brk10", mplog.Back),
		conn:      newBackConn(nil, outW, nil, nil, 1024),
		cancelled: map[uint64]struct{}{},
	}
	be.runCtx = context.WithoutCancel(ctx)
	be.conn.serve()
	tb.Cleanup(func() {
		cancel()
		be.conn.out.close()
		outR.Close()
	})
	return be, newFrameReader(outR, MaxFrameSize), cancel
}

// Fault: terminated (SIGTERM's AfterFunc) runs between two handlers, when
// no cancelRun is set, and so cancels nothing; the next handler's ctx,
// which derives from b.ctx without its cancellation, would then never
// end. dispatch must see that b.ctx has ended and cancel it at once.
// Fails with dispatch's check of b.ctx.Err() removed (checked).
func TestTerminatedBetweenHandlersCancelsTheNextOnesCtx(t *testing.T) {
	be, rd, end := brk10Backend(t)
	end()
	be.terminated() // finds no handler running
	hs := handlers{"late": func(ctx context.Context, m Message) error {
		assert.ErrorIs(t, ctx.Err(), context.Canceled, "a handler started after SIGTERM")
		assert.ErrorIs(t, context.Cause(ctx), context.Canceled)
		return nil
	}}
	_, panicked := be.dispatch(callFrame(1, "late"), hs, []string{"late"})
	require.False(t, panicked)
	brk10ReadReply(t, rd)
}

// Fault: terminated runs while a handler runs and does not cancel its
// ctx (cancelRun not called, or not set yet): the handler runs on until
// the grace period kills the process. Fails with terminated's call of
// cancelRun removed (checked).
func TestTerminatedWhileHandlerRunsCancelsItsCtx(t *testing.T) {
	be, rd, end := brk10Backend(t)
	hs := handlers{"run": func(ctx context.Context, m Message) error {
		require.NoError(t, ctx.Err())
		end()
		be.terminated()
		assert.ErrorIs(t, ctx.Err(), context.Canceled, "the running handler's ctx, after terminated")
		return nil
	}}
	_, panicked := be.dispatch(callFrame(1, "run"), hs, []string{"run"})
	require.False(t, panicked)
	brk10ReadReply(t, rd)
}

// Stress: SIGTERM (terminate, whose AfterFunc runs terminated on a
// goroutine of its own) racing with dispatch, from before the handler's
// ctx is made to after the handler started: terminated may run before
// cancelRun is set (then dispatch's own check of b.ctx cancels) or after
// (then terminated cancels through cancelRun). Either way the handler's
// ctx, and the child ctx a goroutine of the handler waits on, end, with
// context.Canceled as their cause. The interleavings are the scheduler's:
// the two tests above pin each order down; this one looks for a window
// between them (with -race, many times).
func TestTerminateRacingDispatchCancelsHandlerCtx(t *testing.T) {
	for i := 0; i < 300 && !t.Failed(); i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			be, rd, terminate := inProcessBackend(t)
			go terminate() // lands anywhere in dispatch
			hs := handlers{"work": func(ctx context.Context, m Message) error {
				spawned := make(chan bool)
				go func() {
					child, cancel := context.WithCancel(ctx)
					defer cancel()
					spawned <- brk10AwaitDone(t, child, "a goroutine's child of the handler's ctx")
				}()
				if brk10AwaitDone(t, ctx, "the handler's") {
					assert.ErrorIs(t, context.Cause(ctx), context.Canceled)
				}
				<-spawned
				return ctx.Err()
			}}
			_, panicked := be.dispatch(callFrame(1, "work"), hs, []string{"work"})
			require.False(t, panicked)
			reply := brk10ReadReply(t, rd)
			assert.Equal(t, uint64(1), reply.id)
			assert.Equal(t, CodeHandler, reply.code, "the handler returned its ctx's error")
		})
	}
}

// Provokes: a cancel frame for the running call (be.cancel, as the cancel
// pipe's reader does) racing with the handler's start. The handler's ctx
// ends whether the cancel comes before the call starts (the call is then
// skipped: no reply, handler not run) or while it runs; a goroutine the
// handler left behind sees its ctx end when the handler returns.
func TestCancelFrameRacingDispatch(t *testing.T) {
	for i := 0; i < 300 && !t.Failed(); i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			be, rd, _ := inProcessBackend(t)
			go be.cancel(1)
			ran := false
			left := make(chan context.Context, 1)
			hs := handlers{"work": func(ctx context.Context, m Message) error {
				ran = true
				brk10AwaitDone(t, ctx, "the cancelled call's")
				left <- ctx
				return nil
			}}
			_, panicked := be.dispatch(callFrame(1, "work"), hs, []string{"work"})
			require.False(t, panicked)
			if !ran {
				return // cancelled before it started: no reply
			}
			brk10ReadReply(t, rd)
			assert.Error(t, (<-left).Err())
		})
	}
}

// A handler that returns leaves its goroutines a cancelled ctx, whose
// cause is context.Canceled, even though nothing cancelled the backend's.
func TestHandlerReturnCancelsItsGoroutinesCtx(t *testing.T) {
	be, rd, _ := inProcessBackend(t)
	got := make(chan error, 1)
	hs := handlers{"spawn": func(ctx context.Context, m Message) error {
		go func() {
			<-ctx.Done()
			got <- context.Cause(ctx)
		}()
		return nil
	}}
	_, panicked := be.dispatch(callFrame(1, "spawn"), hs, []string{"spawn"})
	require.False(t, panicked)
	_, err := rd.read()
	require.NoError(t, err)
	select {
	case err := <-got:
		assert.True(t, errors.Is(err, context.Canceled))
	case <-time.After(10 * time.Second):
		t.Fatal("the goroutine's ctx did not end with its handler")
	}
	assert.NoError(t, be.ctx.Err())
}
