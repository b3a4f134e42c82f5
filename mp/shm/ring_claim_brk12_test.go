package shm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: two takers of one side at the same moment. Producer and Consumer
// checked whether a live process held the side, then stored this one's
// start time and PID: another taker between the check and the stores (a
// second backend started on the same ring, or another Ring of this
// process) passed the check too, and both had the side, writing over each
// other's frames (or releases). The test puts the other taker in that
// very place (beforeTake): another Ring of this process, or a helper
// process; exactly one of the two may have the side, the other is ErrBusy.
func TestRingSideTakenByTwoAtOnce(t *testing.T) {
	for _, side := range []string{"producer", "consumer"} {
		take := func(r *Ring) error {
			var err error
			if side == "producer" {
				_, err = r.Producer()
			} else {
				_, err = r.Consumer()
			}
			return err
		}
		t.Run(side+", another Ring of this process", func(t *testing.T) {
			r, err := CreateRingAnon("twoatonce", RingConfig{SlotSize: 64, Slots: 8})
			require.NoError(t, err)
			defer r.Close()
			files, err := r.Files()
			require.NoError(t, err)
			other, err := OpenRing(files...)
			require.NoError(t, err)
			defer other.Close()
			var otherErr error
			takeHook(t, func() { otherErr = take(other) })
			require.NoError(t, take(r))
			assert.ErrorIs(t, otherErr, ErrBusy, "the side was being taken")
		})
		t.Run(side+", another process", func(t *testing.T) {
			r, err := CreateRingAnon("twoatonce", RingConfig{SlotSize: 64, Slots: 8})
			require.NoError(t, err)
			defer r.Close()
			files, err := r.Files()
			require.NoError(t, err)
			var first string
			takeHook(t, func() { _, first = startBrk12HelperOn(t, files, side) })
			require.NoError(t, take(r))
			assert.Contains(t, first, "error: ", "the helper took the side too")
			assert.Contains(t, first, ErrBusy.Error())
		})
	}
}

// takeHook runs f once, in the first attach that reaches beforeTake.
func takeHook(t *testing.T, f func()) {
	beforeTake = func() {
		beforeTake = nil
		f()
	}
	t.Cleanup(func() { beforeTake = nil })
}
