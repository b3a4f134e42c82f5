package shm

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: the check of a side's holder fails for another reason than the
// holder's death (here made to fail as pidfd_open(2) does with no
// descriptor to spare, EMFILE). The side used to be taken all the same,
// from a holder that is alive: two producers then write over each other's
// frames. The take must fail, saying why, and leave the side to its
// holder; once the holder is known dead, it may be taken.
func TestRingSideNotTakenWhenItsHolderCannotBeChecked(t *testing.T) {
	r, err := CreateRingAnon("holdercheck", RingConfig{SlotSize: 64, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	h, first := startBrk12Helper(t, r, "producer")
	require.Equal(t, "ready", first)

	old := checkHolder
	checkHolder = func(*peer) error { return errors.New("pidfd_open: too many open files") }
	_, err = r.Producer()
	checkHolder = old
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrBusy)
	assert.Contains(t, err.Error(), "is alive: pidfd_open: too many open files")
	assert.Equal(t, "produced", h.do("produce f1"), "the holder keeps its side")

	h.kill()
	p, err := r.Producer()
	require.NoError(t, err, "a dead holder's side is taken")
	require.NoError(t, p.Close())
}
