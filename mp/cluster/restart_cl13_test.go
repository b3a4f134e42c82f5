package cluster_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: an operator deletes the task consumer while a worker host runs.
// The host makes it again and runs the next task. Before, each fetch
// failed ("no responders") and the host warned about it every 250 ms for
// good, running nothing: the Call waited until its ctx.
func TestTaskConsumerDeletedIsMadeAgain(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startHost(t, nc, testConfig, 1)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.WaitHosts(ctx, 1, square.Name())
	require.NoError(t, err)

	require.NoError(t, jetstreamOf(t, nc).DeleteConsumer(ctx, "MP_TASKS", "task-square"))
	r, err := cluster.Call(ctx, c, square, Job{N: 4})
	require.NoError(t, err)
	assert.Equal(t, 16, r.Square)
}

// Fault: the NATS server comes back without its storage (restarted on
// the same port with a new, empty store): the streams and every consumer
// are gone. The worker host makes the streams and its task consumer
// again, the client its results consumer, and a Wait pending across the
// loss, whose task and result went with the streams, ends with ErrLost.
// Before, the host warned every 250 ms for good, a Submit failed with "no
// response from stream" until someone made the streams, the client never
// made its results consumer again (it looked only for a missing consumer,
// not a missing stream), and the Wait lasted until its ctx.
//
// Fault (cl13b): a task submitted after the server came back, before the
// client noticed (here in revive, just before the client makes its
// consumer again), ended with ErrLost too, though it was stored in the
// new task stream and ran. It now gets its result.
func TestServerBackWithoutItsStreams(t *testing.T) {
	s, err := embedded.Start(embedded.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Shutdown() }) // the second server, last
	u, err := url.Parse(s.URL())
	require.NoError(t, err)
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	startHost(t, connect(t, s), testConfig, 1)
	c := newClient(t, connect(t, s), testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := cluster.Call(ctx, c, square, Job{N: 2})
	require.NoError(t, err)
	assert.Equal(t, 4, r.Square)
	lost, err := cluster.Submit(ctx, c, mp.NewCommand[int, int]("unserved"), 1)
	require.NoError(t, err)
	meanwhile := make(chan *cluster.Task[Result], 1)
	var once sync.Once
	cluster.SetBeforeRecreate(t, func() {
		once.Do(func() {
			task, err := cluster.Submit(ctx, c, square, Job{N: 6})
			assert.NoError(t, err, "the Submit after the server came back")
			meanwhile <- task
		})
	})

	s.Shutdown()
	s, err = embedded.Start(embedded.Config{Port: port})
	require.NoError(t, err)
	_, err = lost.Wait(ctx)
	require.ErrorIs(t, err, cluster.ErrLost)
	require.NoError(t, ctx.Err(), "the Wait ended with its ctx")
	// The client's watch of the task stream or its revive, whichever
	// noticed first, says which stream is gone or was made again.
	assert.Contains(t, err.Error(), "and the server holds neither the task nor its result")

	var task *cluster.Task[Result]
	select {
	case task = <-meanwhile:
		require.NotNil(t, task)
	case <-ctx.Done():
		t.Fatal("the client did not make its results consumer again")
	}
	r, err = task.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 36, r.Square)

	r, err = cluster.Call(ctx, c, square, Job{N: 3})
	require.NoError(t, err)
	assert.Equal(t, 9, r.Square)
}

// Fault: the task stream is deleted (by an operator, or lost with the
// server's storage) while a client runs, no host there to make it again.
// Submit makes it again and the task is stored. Before, every Submit
// failed with "no response from stream" until someone made the stream.
func TestSubmitMakesTheTaskStreamAgain(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js := jetstreamOf(t, nc)
	require.NoError(t, js.DeleteStream(ctx, "MP_TASKS"))

	_, err := cluster.Submit(ctx, c, square, Job{N: 5})
	require.NoError(t, err)
	st, err := js.Stream(ctx, "MP_TASKS")
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, info.State.Msgs, "the task is stored")
}

// Fault: the results stream is deleted (by an operator, or lost with the
// server's storage) while a worker host runs, and no client is there to
// make it again. The host makes it again and stores the next result.
// Before, storing each result failed with "no response from stream": the
// task was left unacknowledged, ran again after AckWait, up to
// MaxDeliver times, and its result was never stored.
func TestResultStreamMadeAgainByTheHost(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startHost(t, nc, testConfig, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js := jetstreamOf(t, nc)
	// The host has made the streams and pulls once its consumer exists.
	require.Eventually(t, func() bool {
		_, err := js.Consumer(ctx, "MP_TASKS", "task-square")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, js.DeleteStream(ctx, "MP_RESULTS"))

	req, err := cbor.Marshal(Job{N: 7})
	require.NoError(t, err)
	msg := nats.NewMsg("mp.task.square")
	msg.Header.Set("Mp-Client", "nobody")
	msg.Header.Set(nats.MsgIdHdr, "task1")
	msg.Data = req
	_, err = js.PublishMsg(ctx, msg)
	require.NoError(t, err)
	assertQueueEmpty(t, nc, testConfig) // run, its result stored, acknowledged
	st, err := js.Stream(ctx, "MP_RESULTS")
	require.NoError(t, err, "the results stream is there again")
	raw, err := st.GetLastMsgForSubject(ctx, "mp.result.nobody.task1")
	require.NoError(t, err, "the result is stored")
	var r Result
	require.NoError(t, cbor.Unmarshal(raw.Data, &r))
	assert.Equal(t, 49, r.Square)
}

// A Submit that finds the task stream gone, and a stream of that name that
// is not this package's in its place when it makes it again, fails with
// ErrConfig naming what that stream takes (and says "cluster:" once).
func TestSubmitFindsAnotherTaskStream(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js := jetstreamOf(t, nc)
	require.NoError(t, js.DeleteStream(ctx, "MP_TASKS"))
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MP_TASKS", Subjects: []string{"elsewhere.>"}})
	require.NoError(t, err)

	_, err = cluster.Submit(ctx, c, square, Job{N: 5})
	require.ErrorIs(t, err, cluster.ErrConfig)
	assert.Contains(t, err.Error(), "stream MP_TASKS takes subjects [elsewhere.>]")
	assert.Equal(t, 1, strings.Count(err.Error(), "cluster:"), err.Error())
}
