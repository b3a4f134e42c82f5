package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: more hosts answer WaitHosts than its channel of 64 answers held.
// Every host answers each request at once; the answers past the
// channel's room were dropped by the client library ("slow consumer,
// messages dropped", one line each on standard error), and counted only
// if a later round of asking happened to bring them in first. With 1000
// hosts (here fake ones: 1000 responders on the hosts subject) the client
// connection now reports no dropped message, and WaitHosts returns the
// 1000.
func TestWaitHostsDropsNoAnswer(t *testing.T) {
	s := startServer(t, embedded.Config{})
	var dropped atomic.Int64
	nc, err := nats.Connect(s.URL(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			dropped.Add(1)
		}
	}))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	hostsConn := connect(t, s)
	const n = 1000
	for i := range n {
		b, err := json.Marshal(cluster.Host{Name: fmt.Sprint("host-", i), Workers: 1, Commands: []string{square.Name()}})
		require.NoError(t, err)
		_, err = hostsConn.Subscribe("mp.hosts", func(m *nats.Msg) { m.Respond(b) })
		require.NoError(t, err)
	}
	require.NoError(t, hostsConn.Flush())
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	hosts, err := c.WaitHosts(ctx, n, square.Name())
	require.NoError(t, err)
	assert.Len(t, hosts, n)
	assert.Zero(t, dropped.Load(), "answers dropped by the client library")
}
