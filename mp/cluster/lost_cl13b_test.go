package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SetBeforeRecreate sets beforeRecreate until the end of test t: package
// cluster_test's way to it.
func SetBeforeRecreate(t testing.TB, f func()) {
	beforeRecreate = f
	t.Cleanup(func() { beforeRecreate = nil })
}

// Fault: an operator deletes or purges the task stream alone while a task
// is queued. The task is gone, and no result can come; nothing in the
// client watched the task stream (revive follows the results consumer,
// which is untouched), so the Wait lasted until its ctx without an error.
// The client now notices (watchTasks) and the Wait ends with ErrLost. A
// task submitted after the purge is still queued: it is not failed.
func TestTaskStreamDeletedOrPurgedEndsTheWaits(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(ctx context.Context, js jetstream.JetStream) error
		why  string
	}{
		{"deleted", func(ctx context.Context, js jetstream.JetStream) error { return js.DeleteStream(ctx, "MP_TASKS") }, "MP_TASKS is gone"},
		{"purged", func(ctx context.Context, js jetstream.JetStream) error {
			st, err := js.Stream(ctx, "MP_TASKS")
			if err == nil {
				err = st.Purge(ctx)
			}
			return err
		}, "the task left the task stream MP_TASKS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			every := taskWatchEvery
			taskWatchEvery = 20 * time.Millisecond // read by NewClient
			t.Cleanup(func() { taskWatchEvery = every })
			s, nc := serverConn(t)
			admin, err := Connect(s.URL(), 0)
			require.NoError(t, err)
			defer admin.Close()
			js, err := jetstream.New(admin)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := NewClient(ctx, nc, Config{})
			require.NoError(t, err)
			defer c.Close()
			unserved := mp.NewCommand[int, int]("unserved")
			task, err := Submit(ctx, c, unserved, 1)
			require.NoError(t, err)

			require.NoError(t, tc.lose(ctx, js))
			wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
			defer wcancel()
			_, err = task.Wait(wctx)
			require.ErrorIs(t, err, ErrLost)
			require.NoError(t, wctx.Err(), "the Wait ended with its ctx")
			assert.Contains(t, err.Error(), tc.why)
			assert.Contains(t, err.Error(), "neither the task nor its result")

			// A task queued afterwards stays, and its result comes.
			later, err := Submit(ctx, c, unserved, 2)
			require.NoError(t, err)
			for range 3 { // three rounds of the watch see it queued
				require.NoError(t, c.checkTasks(ctx, &taskWatch{}))
			}
			require.NoError(t, publishResult(ctx, nc, c.cfg, c.id, later.ID(), "unserved", statusOK, mustEncode(t, 4), "", 1))
			r, err := later.Wait(ctx)
			require.NoError(t, err)
			assert.Equal(t, 4, r)
		})
	}
}

// mustEncode encodes v as a reply.
func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	data, err := encode(v)
	require.NoError(t, err)
	return data
}

// A pending task that has left the task stream (here purged past it) but
// whose result is stored, as when its worker stored the result and
// acknowledged the task before the client took the result, is not failed
// by the watch: the results consumer brings the result. The test stops
// the client's reading of results (as a client slow to take them) and
// makes the pending entries by hand: the lookup alone decides.
func TestTaskGoneWithItsResultStoredIsNotLost(t *testing.T) {
	ctx, nc, c, st := clientNotReading(t)
	require.NoError(t, st.Purge(ctx, jetstream.WithPurgeSequence(10))) // first sequence 10
	require.NoError(t, publishResult(ctx, nc, c.cfg, c.id, "done", "sq", statusOK, mustEncode(t, 1), "", 1))
	gone := &waiting{done: make(chan struct{}), seq: 3}
	lost := &waiting{done: make(chan struct{}), seq: 4}
	c.mu.Lock()
	c.pending["done"], c.pending["lost"] = gone, lost
	c.mu.Unlock()

	made, err := c.streamMade(ctx, "MP_TASKS")
	require.NoError(t, err)
	tw := &taskWatch{made: made}
	require.NoError(t, c.checkTasks(ctx, tw)) // sees the first sequence pass them
	require.NoError(t, c.checkTasks(ctx, tw)) // a round later: looks them up
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.False(t, gone.settled(), "the task whose result is stored was failed: %v", gone.err)
	require.True(t, lost.settled(), "the task without a result was not failed")
	assert.ErrorIs(t, lost.err, ErrLost)
}

// Fault (rev13b, from the code): a task that the first sequence of the
// task stream had just passed was looked up at once, with a request or two
// to the server each, though a task a worker has just done has its result
// on the way to the client: a large batch whose results the client reads
// a little behind cost thousands of requests every round. A task is looked
// up only once the first sequence has passed it for a whole round.
func TestTaskJustDoneIsNotLookedUp(t *testing.T) {
	ctx, _, c, st := clientNotReading(t) // the result of "done" is on its way: not read yet
	made, err := c.streamMade(ctx, "MP_TASKS")
	require.NoError(t, err)
	tw := &taskWatch{made: made}
	done := &waiting{done: make(chan struct{}), seq: 3}
	c.mu.Lock()
	c.pending["done"] = done
	c.mu.Unlock()
	require.NoError(t, c.checkTasks(ctx, tw)) // the first sequence is 1: below no task
	require.NoError(t, st.Purge(ctx, jetstream.WithPurgeSequence(10)))
	require.NoError(t, c.checkTasks(ctx, tw)) // now 10: passed "done" this round
	c.mu.Lock()
	settled := done.settled()
	c.mu.Unlock()
	assert.False(t, settled, "a task the first sequence passed this round was looked up (and, with no result, failed)")
	require.NoError(t, c.checkTasks(ctx, tw)) // a round later
	c.mu.Lock()
	defer c.mu.Unlock()
	require.True(t, done.settled(), "a task passed a round ago, with no result, was not looked up")
	assert.ErrorIs(t, done.err, ErrLost)
}

// clientNotReading returns a client of a server of its own that does not
// read its results (as one slow to take them: the lookups alone decide),
// its connection, the task stream, and a ctx for the test's calls.
func clientNotReading(t *testing.T) (context.Context, *nats.Conn, *Client, jetstream.Stream) {
	_, nc := serverConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c, err := NewClient(ctx, nc, Config{})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	c.mu.Lock()
	c.cc.Stop()
	c.mu.Unlock()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	st, err := js.Stream(ctx, "MP_TASKS")
	require.NoError(t, err)
	return ctx, nc, c, st
}
