package shm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: under DropOldest, a live consumer process reads the oldest frame
// (Next, no Release yet: the tail is marked as held), and this process
// asks for the consumer side too. It is refused (ErrBusy), but before it
// was, it cleared the live consumer's mark, taken for a dead consumer's:
// the producer then dropped the frame being read instead of the new one,
// and could overwrite it under the reader. A taker changes nothing before
// the side is known free.
func TestRingRefusedConsumerLeavesTheHoldAlone(t *testing.T) {
	r, err := CreateRingAnon("busyhold", RingConfig{SlotSize: 64, Slots: 2, Policy: DropOldest})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	write(t, p, "a")
	write(t, p, "b")
	startRingHelper(t, r, "ringholdkill", 0) // reads "a", holds it

	_, err = r.Consumer()
	require.ErrorIs(t, err, ErrBusy, "the consumer is alive")
	assert.NotZero(t, r.words.tail.Load()&holdBit, "the reader's mark")
	_, err = p.Write([]byte("c"))
	assert.ErrorIs(t, err, ErrDropped, "the frame being read is not dropped: the new one is")
	assert.Equal(t, uint64(1), r.Drops())
}
