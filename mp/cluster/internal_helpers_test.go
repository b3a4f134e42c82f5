package cluster

import (
	"testing"

	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// serverConn starts an embedded server and connects to it, both stopped
// when the test ends; for this package's internal tests (the external ones
// have startServer and connect).
func serverConn(t *testing.T) (*embedded.Server, *nats.Conn) {
	t.Helper()
	s, err := embedded.Start(embedded.Config{})
	require.NoError(t, err)
	t.Cleanup(s.Shutdown)
	nc, err := Connect(s.URL(), 0)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return s, nc
}
