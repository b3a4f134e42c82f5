package shm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: the side's claim was a classic POSIX record lock (F_SETLK), which
// the kernel drops, for the whole process, as soon as the process closes
// any descriptor of the segment: another goroutine closing another Ring on
// the same segment (or the copies of Files handed to a child) while this
// one takes a side. A second process then got the lock, passed the check
// and took the side too: both produced (or consumed) over each other. The
// claim is now an open file description lock (F_OFD_SETLK), which belongs
// to the Ring's own descriptor and conflicts with F_SETLK as before. The
// test closes another Ring of the segment in the middle of the take
// (beforeTake), then starts a helper that takes the same side: it must be
// told ErrBusy.
func TestRingClaimSurvivesAnotherDescriptorsClose(t *testing.T) {
	for _, side := range []string{"producer", "consumer"} {
		t.Run(side, func(t *testing.T) {
			r, err := CreateRingAnon("claimclose", RingConfig{SlotSize: 64, Slots: 8})
			require.NoError(t, err)
			defer r.Close()
			files, err := r.Files()
			require.NoError(t, err)
			other, err := OpenRing(files...)
			require.NoError(t, err)
			var first string
			takeHook(t, func() {
				require.NoError(t, other.Close())
				_, first = startBrk12HelperOn(t, files, side)
			})
			if side == "producer" {
				_, err = r.Producer()
			} else {
				_, err = r.Consumer()
			}
			require.NoError(t, err)
			assert.Contains(t, first, "error: ", "the helper took the side too")
			assert.Contains(t, first, ErrBusy.Error())
		})
	}
}
