package shm

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The slot step numbers every slot once per lap, and puts consecutive
// frames far apart: in different 4 KiB pages for 64-byte frames once the
// ring has 128 slots.
func TestRingSlotStep(t *testing.T) {
	for n := 1; n <= 1<<12; n *= 2 {
		l, err := newLayout(RingConfig{SlotSize: 64, Slots: n})
		require.NoError(t, err)
		assert.Equal(t, 1, l.step%2, "%d slots: step %d", n, l.step)
		seen := make([]bool, n)
		for k := range n {
			j := k * l.step % n
			assert.False(t, seen[j], "%d slots: slot %d twice in a lap", n, j)
			seen[j] = true
			if d := (k+1)*l.step%n*l.stride - j*l.stride; n >= 128 {
				assert.GreaterOrEqual(t, max(d, -d), 4096, "%d slots: frames %d and %d", n, k, k+1)
			}
		}
	}
	assert.Equal(t, 633, slotStep(1024))
}

func TestRingCallsOutOfTurn(t *testing.T) {
	// Bad input: Commit with nothing reserved and Release with nothing held
	// are os.ErrInvalid and change nothing; Reserve and Next called again
	// return the same slot and frame. Under every policy: Reserve, Commit,
	// Next and Release take a short way under some and not others.
	for _, policy := range []FullPolicy{Block, DropNewest, DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 4, Policy: policy})
			require.ErrorIs(t, p.Commit(1), os.ErrInvalid, "nothing reserved")
			require.ErrorIs(t, c.Release(), os.ErrInvalid, "nothing held")
			a, err := p.Reserve(context.Background())
			require.NoError(t, err)
			b, err := p.Reserve(context.Background())
			require.NoError(t, err)
			assert.Same(t, &a[0], &b[0], "Reserve again: the same slot")
			copy(a, "one")
			require.NoError(t, p.Commit(3))
			require.ErrorIs(t, p.Commit(3), os.ErrInvalid, "committed already")
			write(t, p, "two")
			f, err := c.Next(context.Background())
			require.NoError(t, err)
			g, err := c.Next(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "one", string(f))
			assert.Same(t, &f[0], &g[0], "Next again: the same frame")
			require.NoError(t, c.Release())
			require.ErrorIs(t, c.Release(), os.ErrInvalid, "released already")
			assert.Equal(t, "two", read(t, c))
			_, err = c.Next(expired())
			require.ErrorIs(t, err, context.Canceled, "nothing more")
		})
	}
}
