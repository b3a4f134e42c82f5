package shm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: another process shrinks a named ring's segment (ftruncate) under
// both sides, first to its header page (the slots gone), then to nothing.
// Every access of the ring's to the missing pages raised SIGBUS, which
// killed the program. Each call now fails with an error wrapping ErrFault
// that says where and why, and the ring still closes: Close of each side
// (whose closed flag is gone with its page) and of the ring, which unlinks
// the segment.
func TestRingShrunkSegment(t *testing.T) {
	useShmPrefix(t)
	r, err := CreateRing("shrunk", RingConfig{SlotSize: 64, Slots: 4})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	write(t, p, "a")
	write(t, p, "b")
	assert.Equal(t, "a", read(t, c))
	path := filepath.Join(Dir, r.Name())

	require.NoError(t, os.Truncate(path, ringHeaderSize))
	_, err = p.Write([]byte("c"))
	require.ErrorIs(t, err, ErrFault, "write")
	assert.Contains(t, err.Error(), `shm: ring "`+r.Name()+`" producer: write: memory fault on the mapping at byte 4`)
	assert.Contains(t, err.Error(), "the segment is now 4096 bytes: shrunk by another process?")
	_, err = p.Reserve(context.Background())
	require.NoError(t, err, "Reserve touches no slot: the same slot again")
	require.ErrorIs(t, p.Commit(1), ErrFault, "commit")
	_, err = c.Next(context.Background())
	require.ErrorIs(t, err, ErrFault, "next")
	assert.Contains(t, err.Error(), `shm: ring "`+r.Name()+`" consumer: next: memory fault on the mapping`)
	_, err = c.Read(make([]byte, 64))
	require.ErrorIs(t, err, ErrFault, "read")

	require.NoError(t, os.Truncate(path, 0))
	assert.Zero(t, r.Drops(), "the count is gone with its page")
	require.ErrorIs(t, c.Close(), ErrFault, "the closed flag is gone with its page")
	require.ErrorIs(t, c.Close(), ErrRingClosed, "closed all the same")
	require.ErrorIs(t, p.Close(), ErrFault)
	require.NoError(t, r.Close(), "the ring is unmapped and unlinked")
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// Fault: as above, with the consumer in another process, waiting for a
// frame, when the segment is cut to nothing. That process died of SIGBUS
// (and so did this one, at its next access). The producer's Close, its
// closed flag gone, still wakes the consumer, whose next look is an error
// wrapping ErrFault: both processes go on.
func TestRingShrunkSegmentUnderTheOtherProcess(t *testing.T) {
	useShmPrefix(t)
	r, err := CreateRing("shrunk", RingConfig{SlotSize: 64, Slots: 4})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	h, first := startBrk12Helper(t, r, "consumer")
	require.Equal(t, "ready", first)
	write(t, p, "a")
	require.Equal(t, "a", h.do("next"))
	_, err = h.stdin.Write([]byte("next\n")) // waits for a frame
	require.NoError(t, err)

	require.NoError(t, os.Truncate(filepath.Join(Dir, r.Name()), 0))
	require.ErrorIs(t, p.Close(), ErrFault)
	answer := h.line()
	assert.Contains(t, answer, "error: shm: ring")
	assert.Contains(t, answer, "consumer: next: memory fault on the mapping")
	require.NoError(t, h.stdin.Close())
	require.NoError(t, h.cmd.Wait(), "the other process exits on its own")
}
