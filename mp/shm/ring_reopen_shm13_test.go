package shm

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a producer process closes its side (end of stream) and exits; a
// new producer takes the side over. The header's closed flag, set by the
// first, stayed set: the consumer, which had read the first stream and
// its io.EOF, got io.EOF at once from every Next on an empty ring instead
// of waiting for the new producer's frames. Taking a side clears its
// closed flag: the consumer waits, and the frame the new producer writes
// while it sleeps (sleep hook) ends its wait; then the new producer's own
// io.EOF.
func TestRingProducerTakeoverAfterClose(t *testing.T) {
	r, err := CreateRingAnon("reopen", RingConfig{SlotSize: 64, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	c, err := r.Consumer()
	require.NoError(t, err)
	h, first := startBrk12Helper(t, r, "producer")
	require.Equal(t, "ready", first)
	require.Equal(t, "produced", h.do("produce a"))
	require.Equal(t, "closed", h.do("close"))
	h.kill()
	s, err := nextWithin(t, c)
	require.NoError(t, err)
	assert.Equal(t, "a", s)
	_, err = nextWithin(t, c)
	require.ErrorIs(t, err, io.EOF, "the first producer's end of stream")

	p, err := r.Producer()
	require.NoError(t, err, "the gone producer's side is taken over")
	slept := false
	sleepHooks(t, func(*side, int) {
		if !slept {
			slept = true
			write(t, p, "b")
		}
	}, nil)
	s, err = nextWithin(t, c)
	require.NoError(t, err, "the new producer's frame, not the old one's io.EOF")
	assert.Equal(t, "b", s)
	assert.True(t, slept, "the consumer waited for it")
	require.NoError(t, p.Close())
	_, err = nextWithin(t, c)
	assert.ErrorIs(t, err, io.EOF, "the new producer's end of stream")
}

// Fault: a consumer process closes its side and exits; a new consumer
// takes the side over. The header's closed flag, set by the first, stayed
// set: every Reserve and Write of the producer failed with
// io.ErrClosedPipe, though somebody read again. Taking a side clears its
// closed flag.
func TestRingConsumerTakeoverAfterClose(t *testing.T) {
	r, err := CreateRingAnon("reopen", RingConfig{SlotSize: 64, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	write(t, p, "a")
	h, first := startBrk12Helper(t, r, "consumer")
	require.Equal(t, "ready", first)
	require.Equal(t, "a", h.do("next"))
	require.Equal(t, "closed", h.do("close"))
	h.kill()
	_, err = p.Write([]byte("lost"))
	require.ErrorIs(t, err, io.ErrClosedPipe, "nobody reads")

	c, err := r.Consumer()
	require.NoError(t, err, "the gone consumer's side is taken over")
	write(t, p, "b")
	s, err := nextWithin(t, c)
	require.NoError(t, err)
	assert.Equal(t, "b", s)
}
