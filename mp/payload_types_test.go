package mp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What Command's doc says of CBOR, pinned: an unexported field arrives as
// its zero value, without an error, and a field of interface type arrives
// with CBOR's types, not the Go type it was sent with (a newcomer's
// surprise; encoding/json behaves the same way).
func TestPayloadDropsUnexportedAndRetypesInterfaces(t *testing.T) {
	type inner struct{ N int }
	type req struct {
		Shown  int
		hidden int
		Any    any
		AnyNeg any
		AnyS   any
	}
	params, err := putPayload(req{Shown: 1, hidden: 42, Any: int32(7), AnyNeg: int32(-7), AnyS: inner{N: 1}})
	require.NoError(t, err)
	var got req
	require.NoError(t, takePayload(params, &got))
	assert.Equal(t, 1, got.Shown)
	assert.Zero(t, got.hidden, "unexported: not sent")
	assert.Equal(t, uint64(7), got.Any)
	assert.Equal(t, int64(-7), got.AnyNeg)
	assert.IsType(t, map[any]any{}, got.AnyS, "a struct in an interface arrives as a map")
}
