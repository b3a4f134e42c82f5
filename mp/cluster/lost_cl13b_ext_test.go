package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: the results stream alone is deleted while a task is queued, no
// host running yet. The client makes the stream and its consumer again,
// and ended the task's Wait with ErrLost, although the task was still
// queued: a host started afterwards ran it and stored its result, which
// the client then dropped. The client now looks the task up in the task
// stream, finds it there, and the Wait gets its result.
func TestResultsStreamDeletedKeepsTheQueuedTask(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	task, err := cluster.Submit(ctx, c, square, Job{N: 4})
	require.NoError(t, err)

	js := jetstreamOf(t, nc)
	require.NoError(t, js.DeleteStream(ctx, "MP_RESULTS"))
	// The client's consumer is there again once its revive is done (it
	// looks its tasks up before it makes the consumer).
	require.Eventually(t, func() bool {
		_, err := js.Consumer(ctx, "MP_RESULTS", "result-"+c.ID())
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	startHost(t, nc, testConfig, 1)
	r, err := task.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 16, r.Square)
}

// Fault: the server loses both streams (here deleted, as a server back
// without its storage loses them) and a task is submitted before the
// client notices: its Submit makes the streams again and stores it. When
// the client noticed, it ended every pending Wait with ErrLost, this
// task's too, though it was queued in the new stream and ran. Now only
// the task that went with the old stream ends with ErrLost; the new one
// gets its result. The test submits in between (beforeRecreate).
func TestTaskSubmittedBeforeTheClientNoticesIsKept(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startHost(t, nc, testConfig, 1)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.WaitHosts(ctx, 1, square.Name())
	require.NoError(t, err)
	old, err := cluster.Submit(ctx, c, mp.NewCommand[int, int]("unserved"), 1)
	require.NoError(t, err)
	type submitted struct {
		task *cluster.Task[Result]
		err  error
	}
	meanwhile := make(chan submitted, 1)
	var once sync.Once
	cluster.SetBeforeRecreate(t, func() {
		once.Do(func() {
			task, err := cluster.Submit(ctx, c, square, Job{N: 5})
			meanwhile <- submitted{task, err}
		})
	})

	js := jetstreamOf(t, nc)
	require.NoError(t, js.DeleteStream(ctx, "MP_TASKS")) // first: the new task must not go with it
	require.NoError(t, js.DeleteStream(ctx, "MP_RESULTS"))
	var got submitted
	select {
	case got = <-meanwhile:
		require.NoError(t, got.err)
	case <-ctx.Done():
		t.Fatal("the client did not notice its results stream was deleted")
	}
	_, err = old.Wait(ctx)
	require.ErrorIs(t, err, cluster.ErrLost)
	require.NoError(t, ctx.Err(), "the Wait ended with its ctx")
	r, err := got.task.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 25, r.Square)
}
