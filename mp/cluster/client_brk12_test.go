package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: the client is closed while a Wait waits for a result (no worker
// host runs yet), and a Call comes after Close. The Wait returns ErrClosed
// at once, and the Call fails with ErrClosed without queueing a task.
// Before, the Wait ended only with its ctx (with context.Background(),
// never), and the Call queued a task whose result nobody could read, then
// waited as long.
func TestCloseEndsWaits(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c, err := cluster.NewClient(context.Background(), nc, testConfig)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	task, err := cluster.Submit(ctx, c, square, Job{N: 2})
	require.NoError(t, err)
	waited := make(chan error, 1)
	go func() {
		_, err := task.Wait(ctx)
		waited <- err
	}()
	c.Close()
	require.ErrorIs(t, <-waited, cluster.ErrClosed)
	_, err = task.Wait(ctx) // again: the same answer
	require.ErrorIs(t, err, cluster.ErrClosed)

	_, err = cluster.Call(ctx, c, square, Job{N: 3})
	require.ErrorIs(t, err, cluster.ErrClosed)
	assert.Contains(t, err.Error(), `cluster: submit "square": client closed`)
	c.Close() // twice: no panic, nothing more

	// Only the task submitted before Close is queued.
	js := jetstreamOf(t, nc)
	st, err := js.Stream(ctx, "MP_TASKS")
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, info.State.Msgs)
}

// jetstreamOf returns a JetStream context on nc.
func jetstreamOf(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}
