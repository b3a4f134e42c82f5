package shm

import (
	"context"
	"encoding/binary"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: under DropOldest, the consumer looks at the slot of its position
// and finds it empty; before it concludes, the producer drops that frame,
// commits a whole lap more (the last one in that very slot) and closes.
// The consumer's second look, after the close, found a later frame in the
// slot and said io.EOF: a lap of committed frames was never read nor
// counted (TestRingConcurrent/drop-oldest, a few times in 2,000 rounds:
// always short by exactly the ring's slot count).
func TestRingDropOldestLapBeforeCloseIsRead(t *testing.T) {
	_, p, c := heapRing(t, RingConfig{SlotSize: 64, Slots: 8, Policy: DropOldest})
	const frames = 9 // the ninth drops the first and takes its slot
	once := false
	afterSeqLoad = func() {
		if once {
			return
		}
		once = true
		for i := range frames {
			buf, err := p.Reserve(context.Background())
			require.NoError(t, err)
			binary.LittleEndian.PutUint64(buf, uint64(i))
			require.NoError(t, p.Commit(8))
		}
		require.NoError(t, p.Close())
	}
	t.Cleanup(func() { afterSeqLoad = nil })
	var got []uint64
	for {
		f, err := c.Next(context.Background())
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, binary.LittleEndian.Uint64(f))
		require.NoError(t, c.Release())
	}
	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8}, got, "the frames after the dropped one")
	assert.Equal(t, uint64(1), c.Drops())
}
