package shm

import (
	"context"
	"errors"
	"io"
	"sync"
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
// returned nil: a frame committed without error was never read. Close
// waits for such a Commit (hook closeAwaitsCommit says when it does), so
// the consumer's look in between finds the stream still open, and the
// frame comes before io.EOF.
func TestRingCommitRacingCloseIsReadBeforeEOF(t *testing.T) {
	_, p, c := heapRing(t, RingConfig{SlotSize: 64, Slots: 8})
	closed := make(chan error, 1)
	awaits := make(chan struct{})
	var once sync.Once
	closeAwaitsCommit = func() { once.Do(func() { close(awaits) }) }
	var between error // what the consumer's look between the two got
	beforePublish = func() {
		beforePublish = nil
		go func() { closed <- p.Close() }()
		select {
		case err := <-closed: // Close did not wait for this Commit
			closed <- err
		case <-awaits:
		}
		_, between = c.Next(expired())
	}
	t.Cleanup(func() { beforePublish, closeAwaitsCommit = nil, nil })

	buf, err := p.Reserve(context.Background())
	require.NoError(t, err)
	buf[0] = 'x'
	commitErr := p.Commit(1)
	require.NoError(t, <-closed)
	require.Error(t, between, "the consumer had nothing to read in between")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if commitErr == nil {
		assert.False(t, errors.Is(between, io.EOF), "io.EOF before a frame whose Commit returned nil")
		f, err := c.Next(ctx)
		require.NoError(t, err, "the frame whose Commit returned nil")
		assert.Equal(t, "x", string(f))
		require.NoError(t, c.Release())
	} else {
		assert.ErrorIs(t, commitErr, ErrRingClosed)
	}
	_, err = c.Next(ctx)
	assert.ErrorIs(t, err, io.EOF, "then the end of the stream")
}
