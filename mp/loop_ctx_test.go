package mp

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/mplog"
)

// inProcessBackend is a Backend in this process, with its loop's state
// ready for dispatch, whose message pipe is an os.Pipe: rd reads what it
// writes. terminate cancels its ctx, as SIGTERM does.
func inProcessBackend(tb testing.TB) (be *Backend, rd *frameReader, terminate func()) {
	outR, outW, err := os.Pipe()
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	be = &Backend{
		kind: "Test", name: "inproc", ctx: ctx,
		log:       mplog.New("Test.inproc", mplog.Back),
		conn:      newBackConn(nil, outW, nil, nil, 1024),
		cancelled: map[uint64]struct{}{},
	}
	be.runCtx = context.WithoutCancel(ctx)
	stop := context.AfterFunc(ctx, be.terminated)
	be.conn.serve()
	tb.Cleanup(func() {
		stop()
		cancel()
		be.conn.out.close()
		outR.Close()
	})
	return be, newFrameReader(outR, MaxFrameSize), cancel
}

// callFrame is call id of command.
func callFrame(id uint64, command string) frame {
	return frame{kind: kindCall, id: id, command: command}
}

// A cancel of call id cancels that call's handler's ctx, at once and with
// context.Canceled as its cause, and no other call's: not a later call's
// (whose cancel is kept for it), not the backend's. A call cancelled
// before it started is skipped, and answered with an empty reply.
func TestCancelEndsOnlyItsCallsCtx(t *testing.T) {
	be, rd, _ := inProcessBackend(t)
	var ran []uint64
	hs := handlers{"check": func(ctx context.Context, m Message) error {
		ran = append(ran, m.id)
		if m.id == 3 {
			be.cancel(1) // a call that has ended
			assert.NoError(t, ctx.Err(), "call 3's ctx, after a cancel of call 1")
			return nil
		}
		be.cancel(2)
		assert.NoError(t, ctx.Err(), "call 1's ctx, after a cancel of call 2")
		be.cancel(1)
		assert.ErrorIs(t, ctx.Err(), context.Canceled, "call 1's ctx, after its cancel")
		assert.ErrorIs(t, context.Cause(ctx), context.Canceled)
		assert.NoError(t, be.ctx.Err(), "the backend's ctx")
		return nil
	}}
	for id := uint64(1); id <= 3; id++ {
		_, panicked := be.dispatch(callFrame(id, "check"), hs, []string{"check"})
		require.False(t, panicked)
		// Call 2, given up before it started, is answered all the same
		// (empty): the frontend then knows it no longer holds the backend.
		reply, err := rd.read()
		require.NoError(t, err)
		assert.Equal(t, id, reply.id)
		assert.Equal(t, kindReply, reply.kind)
	}
	assert.Equal(t, []uint64{1, 3}, ran, "call 2 was cancelled before it started")
}

// The end of the backend's ctx (SIGTERM) cancels the running handler's
// ctx, and the ctx of a handler that starts after it is cancelled from
// the start.
func TestBackendEndCancelsHandlersCtx(t *testing.T) {
	be, rd, terminate := inProcessBackend(t)
	hs := handlers{
		"wait": func(ctx context.Context, m Message) error {
			terminate()
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Error("the running handler's ctx was not cancelled")
			}
			return nil
		},
		"late": func(ctx context.Context, m Message) error {
			assert.ErrorIs(t, ctx.Err(), context.Canceled, "a handler started after the end")
			return nil
		},
	}
	for id, cmd := range []string{"wait", "late"} {
		_, panicked := be.dispatch(callFrame(uint64(id+1), cmd), hs, []string{"late", "wait"})
		require.False(t, panicked)
		_, err := rd.read()
		require.NoError(t, err)
	}
}
