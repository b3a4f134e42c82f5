package shm

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: Producer.Close runs in another goroutine while Commit is between
// its look at the closed flag (open) and the publication of its frame
// (hook beforePublish). Close marked the end of the stream at once; the
// consumer, looking then, found the frame's slot empty and the producer
// closed, and returned io.EOF; then Commit published the frame and
// returned nil: a frame committed without error was never read before
// io.EOF (and the consumer's next Next returned it, after the end). Commit
// looks at the flag again once the frame is published, and fails with
// ErrRingClosed when Close overtook it; the consumer stays at io.EOF.
func TestRingCommitOvertakenByCloseFails(t *testing.T) {
	_, p, c := heapRing(t, RingConfig{SlotSize: 64, Slots: 8})
	var between error // what the consumer's look between the two got
	beforePublish = func() {
		beforePublish = nil
		closed := make(chan error)
		go func() { closed <- p.Close() }()
		require.NoError(t, <-closed)
		_, between = c.Next(expired())
	}
	t.Cleanup(func() { beforePublish = nil })

	buf, err := p.Reserve(context.Background())
	require.NoError(t, err)
	buf[0] = 'x'
	err = p.Commit(1)
	require.ErrorIs(t, between, io.EOF, "the consumer saw the end before the frame")
	require.ErrorIs(t, err, ErrRingClosed, "so the Commit that Close overtook fails")
	assert.Contains(t, err.Error(), "the frame may not be read")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Next(ctx)
	assert.ErrorIs(t, err, io.EOF, "and the end stays the end")
}

// A Close in another goroutine that comes after the frame's publication
// but before Commit's second look at the closed flag (hook beforeLook, in
// the wake-up after the frame) fails the Commit too, as Commit cannot tell
// it from the case above; the frame, published before the end, is read
// before io.EOF.
func TestRingCommitOverlappedByCloseAfterThePublication(t *testing.T) {
	_, p, c := heapRing(t, RingConfig{SlotSize: 64, Slots: 8})
	var closeErr error
	closes := 0
	beforeLook = func(s *side) {
		if s == &p.side && closes == 0 {
			closes++
			closed := make(chan error)
			go func() { closed <- p.Close() }()
			closeErr = <-closed
		}
	}
	t.Cleanup(func() { beforeLook = nil })
	buf, err := p.Reserve(context.Background())
	require.NoError(t, err)
	buf[0] = 'x'
	assert.ErrorIs(t, p.Commit(1), ErrRingClosed)
	require.Equal(t, 1, closes)
	require.NoError(t, closeErr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := c.Next(ctx)
	require.NoError(t, err, "the frame published before the end")
	assert.Equal(t, "x", string(f))
	require.NoError(t, c.Release())
	_, err = c.Next(ctx)
	assert.ErrorIs(t, err, io.EOF)
}
