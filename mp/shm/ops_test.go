package shm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpsAllLengths(t *testing.T) {
	// Fill and Sum have an unrolled body and a tail: every length from 0 to
	// 20 exercises both.
	for n := range 21 {
		s := make([]int64, n)
		fill(s, 2)
		for i, v := range s {
			require.Equal(t, int64(2), v, "n=%d i=%d", n, i)
		}
		for i := range s {
			s[i] = int64(i + 1)
		}
		assert.Equal(t, int64(n*(n+1)/2), sum(s), "n=%d", n)
	}
}

func TestFillLargeAllOffsetsAndLengths(t *testing.T) {
	// fillLarge splits s into a head, a non-temporal body and a tail; every
	// start offset and a range of lengths must come out exactly filled,
	// with nothing written outside s.
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 200, 1000, 4099} {
		for off := range 9 {
			buf := make([]uint8, n+off+16)
			s := buf[off : off+n]
			fillLarge(s, 0xAB, 1)
			for i, b := range buf {
				want := uint8(0)
				if i >= off && i < off+n {
					want = 0xAB
				}
				require.Equal(t, want, b, "n=%d off=%d i=%d", n, off, i)
			}
			f := make([]float64, n)
			fillLarge(f, 2.5, 8)
			for i, v := range f {
				require.Equal(t, 2.5, v, "float64 n=%d i=%d", n, i)
			}
			g := make([]float32, n+1)[1:]
			fillLarge(g, -1.5, 4)
			for i, v := range g {
				require.Equal(t, float32(-1.5), v, "float32 n=%d i=%d", n, i)
			}
		}
	}
}
