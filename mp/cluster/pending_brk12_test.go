package cluster

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pendingIDs returns the IDs of c's pending tasks.
func pendingIDs(c *Client) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.pending {
		ids = append(ids, id)
	}
	return ids
}

// Fault: a program submits tasks and never waits for them (fire and
// forget: Submit returns at once, and their results are of no interest).
// Each Task dropped takes its pending entry with it once it is garbage;
// a Task still held keeps its own. Before, every such entry stayed for
// the client's life, and with it each result once it came (up to the
// server's maximum payload apiece): memory that grew with every task.
func TestForgottenTasksLeaveNothing(t *testing.T) {
	_, nc := serverConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := NewClient(ctx, nc, Config{})
	require.NoError(t, err)
	defer c.Close()

	cmd := mp.NewCommand[int, int]("forgotten")
	kept, err := Submit(ctx, c, cmd, 0)
	require.NoError(t, err)
	for i := range 100 {
		_, err := Submit(ctx, c, cmd, i)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		runtime.GC()
		return len(pendingIDs(c)) == 1
	}, 10*time.Second, 10*time.Millisecond, "%d pending entries, want the kept task's only", len(pendingIDs(c)))
	assert.Equal(t, []string{kept.ID()}, pendingIDs(c))
	runtime.KeepAlive(kept)
}
