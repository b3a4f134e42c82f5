package mp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFramedEchoAnswersCalls: the framed floors' echo child, in each
// mode, answers each call with a reply of the call's id, command and
// parameters, and a command it has no handler for with
// CodeUnknownCommand, so that BenchmarkRawFramedRoundTrip times the
// answer a Call gets, not an error path.
func TestFramedEchoAnswersCalls(t *testing.T) {
	for _, mode := range []string{rawFramed, rawFramedCtx} {
		t.Run(mode, func(t *testing.T) {
			c, _ := startFramedEcho(t, mode, mode == rawFramedCtx)
			params := Params{"x": 1, "s": "two"}
			for id := uint64(1); id <= 3; id++ {
				fr, err := c.call("echo", params)
				require.NoError(t, err)
				assert.Equal(t, frame{kind: kindReply, id: id, command: "echo", params: params}, fr)
			}
			fr, err := c.call("nope", params)
			require.NoError(t, err)
			assert.Equal(t, frame{kind: kindReply, id: 4, code: CodeUnknownCommand, command: "nope"}, fr)
		})
	}
}

// TestFramedCallRefusesAnotherCallsReply: a reply whose id is not the
// call's fails the call (and with it the benchmark).
func TestFramedCallRefusesAnotherCallsReply(t *testing.T) {
	for _, routed := range []bool{false, true} {
		e := newFramedEchoer(false)
		c := newLocalCaller(e, routed)
		answer := c.exchange
		c.exchange = func(out []byte) ([]byte, error) {
			out[6]++ // the id, after the length, kind and code
			return answer(out)
		}
		_, err := c.call("echo", Params{"x": 1})
		require.Error(t, err, "routed %v", routed)
	}
}

// TestFramedEchoGivesEachHandlerItsContext: on the context rung, a handler
// runs with a context of its own, registered where a cancellation finds it
// while it runs and cancelled when it returns.
func TestFramedEchoGivesEachHandlerItsContext(t *testing.T) {
	e := newFramedEchoer(true)
	var seen []context.Context
	e.handlers["keep"] = func(ctx context.Context, p Params) Params {
		seen = append(seen, ctx)
		e.mu.Lock()
		assert.NotNil(t, e.cancelRun, "the running handler's cancel is registered")
		e.mu.Unlock()
		assert.NoError(t, ctx.Err())
		return p
	}
	c := newLocalCaller(e, true)
	for range 2 {
		_, err := c.call("keep", nil)
		require.NoError(t, err)
	}
	require.Len(t, seen, 2)
	assert.NotSame(t, seen[0], seen[1])
	for _, ctx := range seen {
		assert.ErrorIs(t, ctx.Err(), context.Canceled)
	}
	assert.Nil(t, e.cancelRun)
	assert.Empty(t, c.pending)
}
