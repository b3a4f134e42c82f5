package mp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEndedCtxSendsNothing: a Call or Send whose ctx has already ended
// returns ctx's error and sends nothing. The fault it checks: the command
// was written anyway whenever the pipe had room, so a Send given a dead
// ctx was handled, and a Call's handler ran (or was skipped only if its
// cancel won the race), while the caller was told it failed.
func TestEndedCtxSendsNothing(t *testing.T) {
	p := startTest(t, Options{})
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	ctx := context.Background()

	_, err := p.Call(ended, "count", nil)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, p.Send(ended, "count", nil), context.Canceled)

	// Commands are handled in order, one at a time: had either gone out,
	// this count would be its second or third.
	reply, err := p.Call(ctx, "count", nil)
	require.NoError(t, err)
	n, _ := reply.Params.Int("n")
	assert.Equal(t, 1, n, "the backend handled a command whose ctx had ended")
}
