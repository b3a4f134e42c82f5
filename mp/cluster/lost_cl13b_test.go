package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
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
				_, err := c.checkTasks(ctx, time.Time{})
				require.NoError(t, err)
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
