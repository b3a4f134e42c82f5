package embedded_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: the port asked for is in use (another server, a second run of the
// chapter with the same -listen), for clients or for the cluster's routes.
// Start fails at once with ErrStart and the listener's own error, and
// leaves no temporary store; before, the server kept its reason to its
// disabled log and Start waited the whole ReadyTimeout (10 s) to say
// "not ready within 10s".
func TestPortInUse(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	for _, cfg := range []embedded.Config{
		{Port: port},
		{ClusterName: "c", ClusterPort: port},
	} {
		start := time.Now()
		s, err := embedded.Start(cfg)
		if err == nil {
			s.Shutdown()
		}
		require.ErrorIs(t, err, embedded.ErrStart)
		assert.Contains(t, err.Error(), "address already in use")
		assert.Less(t, time.Since(start), 5*time.Second, "failed at once, not after ReadyTimeout")
	}
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "temporary stores left behind")
}

// Fault: the store directory cannot be created (here a path under a
// regular file). Start fails at once with ErrStart saying JetStream could
// not start and why; before, it waited ReadyTimeout and said only "not
// ready".
func TestStoreNotCreatable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	start := time.Now()
	s, err := embedded.Start(embedded.Config{StoreDir: filepath.Join(file, "store")})
	if err == nil {
		s.Shutdown()
	}
	require.ErrorIs(t, err, embedded.ErrStart)
	assert.Contains(t, err.Error(), "JetStream")
	assert.Contains(t, err.Error(), "not a directory")
	assert.Less(t, time.Since(start), 5*time.Second, "failed at once, not after ReadyTimeout")
}

// Fault: a cluster node started without Config.Name, which says "default
// a random name". It starts; before, Start failed with the server's
// "jetstream cluster requires `server_name` to be set".
func TestClusterNodeWithoutName(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	s, err := embedded.Start(embedded.Config{ClusterName: "c", ClusterPort: port})
	require.NoError(t, err)
	s.Shutdown()
}
