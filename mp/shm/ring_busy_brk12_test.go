package shm

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: one process opens a ring twice (two Rings on the same segment,
// as two parts of a program that each open the files they were given
// would) and takes the same side through both: Producer and Consumer
// answer ErrBusy only for a side taken through the same Ring, and for a
// live other process, so the ring got two producers (or two consumers)
// that overwrite each other's frames. The second is ErrBusy. A side whose
// header names this PID with another start time (an earlier process that
// had this PID, now gone) is free.
func TestRingSideTakenTwiceInOneProcess(t *testing.T) {
	r, err := CreateRingAnon("twice", RingConfig{SlotSize: 64, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	files, err := r.Files()
	require.NoError(t, err)
	again, err := OpenRing(files...)
	require.NoError(t, err)
	defer again.Close()
	_, err = r.Producer()
	require.NoError(t, err)
	_, err = again.Producer()
	assert.ErrorIs(t, err, ErrBusy, "a second producer in this process")
	_, err = r.Consumer()
	require.NoError(t, err)
	_, err = again.Consumer()
	assert.ErrorIs(t, err, ErrBusy, "a second consumer in this process")

	// This PID, from an earlier life: the side is free.
	r2, err := CreateRingAnon("reused", RingConfig{SlotSize: 64, Slots: 8})
	require.NoError(t, err)
	defer r2.Close()
	r2.words.prodPID.Store(uint64(os.Getpid()))
	r2.words.prodStart.Store(1)
	_, err = r2.Producer()
	assert.NoError(t, err, "a producer that had this PID before is gone")
}
