package mp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A typed value with a field the receiver's type lacks (a sender of
// another build) does not decode: an error wrapping ErrParam, never a
// silent zero. A field the sender lacks is the zero value.
func TestPayloadUnknownField(t *testing.T) {
	type v1 struct{ N int }
	type v2 struct {
		N        int
		Priority int
	}
	p, err := putPayload(v2{N: 1, Priority: 9})
	require.NoError(t, err)
	var old v1
	err = takePayload(p, &old)
	require.ErrorIs(t, err, ErrParam)
	assert.Contains(t, err.Error(), "unknown field")

	p, err = putPayload(v1{N: 3})
	require.NoError(t, err)
	var newer v2
	require.NoError(t, takePayload(p, &newer))
	assert.Equal(t, v2{N: 3}, newer)
}
