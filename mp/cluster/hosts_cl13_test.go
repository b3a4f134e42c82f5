package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a program waits for a host able to run "square" while the only
// host serves "blob" alone. WaitHosts counted every host that answered,
// whatever it served: it returned at once, and the program's Calls then
// waited for a host that never came. It now counts the hosts that serve
// every command named: the blob host, seen answering, is not counted
// (the wait ends with its ctx, a second of asking every 100 ms), a square
// host is, and a host that serves both is the only one counted for both.
func TestWaitHostsCountsTheHostsOfTheCommands(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	startBlobHost(t, nc)
	hosts, err := c.WaitHosts(ctx, 1, blob.Name())
	require.NoError(t, err, "the blob host answers")
	assert.Equal(t, []string{"blob"}, hosts[0].Commands)

	short, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	hosts, err = c.WaitHosts(short, 1, square.Name())
	require.ErrorIs(t, err, context.DeadlineExceeded, "the blob host was counted as a square host")
	assert.Empty(t, hosts)
	assert.Contains(t, err.Error(), "waiting for 1 worker hosts serving square, 0 answered")

	startHost(t, nc, testConfig, 1)
	hosts, err = c.WaitHosts(ctx, 1, square.Name())
	require.NoError(t, err)
	assert.Equal(t, []string{"square"}, hosts[0].Commands)

	both := cluster.NewWorker(nc, testConfig, cluster.WorkerOptions{Name: "both"})
	cluster.Serve(both, square)
	cluster.Serve(both, blob)
	runWorker(t, both, 1)
	hosts, err = c.WaitHosts(ctx, 1, square.Name(), blob.Name())
	require.NoError(t, err)
	require.Len(t, hosts, 1)
	assert.Equal(t, cluster.Host{Name: "both", Workers: 1, Commands: []string{"square", "blob"}}, hosts[0])
}

// WaitHosts that names a command that cannot be one fails at once with
// ErrConfig (one that names none does not compile).
func TestWaitHostsNeedsACommand(t *testing.T) {
	s := startServer(t, embedded.Config{})
	c := newClient(t, connect(t, s), testConfig)
	_, err := c.WaitHosts(context.Background(), 1, "a.b")
	require.ErrorIs(t, err, cluster.ErrConfig)
	_, err = c.WaitHosts(context.Background(), 1, "square", "")
	require.ErrorIs(t, err, cluster.ErrConfig)
}

// runWorker runs w with a manager of n test workers until the end of the
// test.
func runWorker(t *testing.T, w *cluster.Worker, n int) {
	t.Helper()
	m, err := newManager(n)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, m) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}
