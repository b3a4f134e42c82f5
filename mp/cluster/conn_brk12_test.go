package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a worker host's NATS connection is closed for good while it runs
// (closed by the program in the wrong order, or by the client library
// after its last reconnection attempt: nats.Connect's default is 60). Run
// returns an error wrapping nats.ErrConnectionClosed, its manager
// stopped. Before, Run went on, logging "fetching tasks: nats: connection
// closed" four times a second until its ctx ended: a host that looked
// alive and took no task.
func TestWorkerConnectionClosed(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc, err := cluster.Connect(s.URL(), 0)
	require.NoError(t, err)
	m, err := newManager(1)
	require.NoError(t, err)
	w := cluster.NewWorker(nc, testConfig, cluster.WorkerOptions{})
	cluster.Serve(w, square)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, m) }()
	c := newClient(t, connect(t, s), testConfig)
	_, err = c.WaitHosts(ctx, 1, square.Name()) // the host pulls
	require.NoError(t, err)

	nc.Close()
	err = <-done
	require.ErrorIs(t, err, nats.ErrConnectionClosed)
	assert.NoError(t, ctx.Err(), "Run returned on its own, not at its ctx's end")
}

// Fault: a client's NATS connection is closed for good while a Wait
// waits. The Wait returns an error wrapping nats.ErrConnectionClosed.
// Before, it lasted until its ctx (for ever with context.Background()):
// no result could come any more.
func TestClientConnectionClosed(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc, err := cluster.Connect(s.URL(), 0)
	require.NoError(t, err)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	task, err := cluster.Submit(ctx, c, square, Job{N: 2}) // no host: it waits
	require.NoError(t, err)

	nc.Close()
	_, err = task.Wait(ctx)
	require.ErrorIs(t, err, nats.ErrConnectionClosed)
	assert.NoError(t, ctx.Err(), "Wait returned on its own, not at its ctx's end")
}
