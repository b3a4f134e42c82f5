package mp

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a Call's reply is routed to it (by the reader goroutine, or by the
// frames another caller's read left in the buffer) just as its ctx ends, so
// that awaitReply finds both ready. The select picked either: half the
// time the Call dropped the reply it had, returned ctx's error as if the
// backend had not answered, sent a cancel for a call already answered, and
// recorded the call as given up and unanswered, so that the next Call whose
// ctx ended blamed it ("has not answered call …"). A reply that has come
// is the answer.
func TestCallWhoseReplyCameAsItsCtxEndedGetsIt(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	c := newFrontConn(nil, "reply-race", nil, w, w, 1, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for id := uint64(1); id <= 64; id++ {
		// As route does: the call's entry is taken, its reply sent.
		ch := make(chan callResult, 1)
		ch <- callResult{fr: frame{kind: kindReply, id: id, command: "answer"}}
		res, ok := c.awaitReply(ctx, id, "question", ch)
		require.True(t, ok, "call %d: the reply had come, but the Call said %v", id, res.err)
		require.NoError(t, res.err)
		assert.Equal(t, "answer", res.fr.command)
	}
	assert.Empty(t, c.abandoned, "answered calls recorded as given up")
}
