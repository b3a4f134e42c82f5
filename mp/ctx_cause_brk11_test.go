package mp

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEndedCtxReturnsItsCause: Call and Send given a ctx that has already
// ended with a cause return that cause, as Recv and Event.Wait do for the
// same ctx, and as Call does when its ctx ends while it waits (both wrap
// context.Cause(ctx)). The fault it checks: the check for an ended ctx
// returned ctx.Err(), a bare context.Canceled, so the same ctx gave two
// different errors depending on whether it ended before or during the
// call.
func TestEndedCtxReturnsItsCause(t *testing.T) {
	p := startTest(t, Options{Events: 1})
	cause := errors.New("the user quit")
	ended, cancel := context.WithCancelCause(context.Background())
	cancel(cause)

	_, err := p.Call(ended, "count", nil)
	assert.ErrorIs(t, err, cause, "Call")
	assert.ErrorIs(t, p.Send(ended, "count", nil), cause, "Send")

	_, err = p.Recv(ended)
	assert.ErrorIs(t, err, cause, "Recv (for comparison)")
	ev, err := p.NewEvent()
	require.NoError(t, err)
	defer ev.Close()
	assert.ErrorIs(t, ev.Wait(ended), cause, "Event.Wait (for comparison)")

	// Nothing was sent: this count is the first.
	reply, err := p.Call(context.Background(), "count", nil)
	require.NoError(t, err)
	n, _ := reply.Params.Int("n")
	assert.Equal(t, 1, n)
}
