package mp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A start that waits for every slot (to run alone) is served before the
// starts that came after it, and a start that gives up waiting hands its
// place on.
func TestStartLimitServesInOrder(t *testing.T) {
	ctx := context.Background()
	s := newStartLimit(3)
	require.NoError(t, s.acquire(ctx, 2))

	alone := make(chan error, 1)
	go func() { alone <- s.acquire(ctx, 3) }()
	waitQueued(t, s, 1)
	later := make(chan error, 1)
	go func() { later <- s.acquire(ctx, 1) }()
	waitQueued(t, s, 2)
	assert.Equal(t, 2, s.held(), "a later start took the free slot before the one waiting for all")

	s.release(2)
	require.NoError(t, <-alone)
	assert.Equal(t, 3, s.held())
	s.release(3)
	require.NoError(t, <-later)
	s.release(1)
	assert.Equal(t, 0, s.held())
}

// A start waiting for every slot whose ctx is cancelled hands its turn on:
// it fails with context.Canceled, and the start queued behind it, whose
// slot was free all along, gets it.
func TestStartLimitGivingUpHandsTheTurnOn(t *testing.T) {
	s := newStartLimit(2)
	require.NoError(t, s.acquire(context.Background(), 1))

	ctx, cancel := context.WithCancel(context.Background())
	alone := make(chan error, 1)
	go func() { alone <- s.acquire(ctx, 2) }()
	waitQueued(t, s, 1)
	later := make(chan error, 1)
	go func() { later <- s.acquire(context.Background(), 1) }()
	waitQueued(t, s, 2)

	cancel()
	assert.ErrorIs(t, <-alone, context.Canceled)
	require.NoError(t, <-later, "the start behind one that gave up still waits")
	assert.Equal(t, 2, s.held())
	s.release(1)
	s.release(1)
	assert.Equal(t, 0, s.held())
}

// waitQueued waits until n starts wait in s's queue.
func waitQueued(t *testing.T, s *startLimit, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.queue) == n
	}, 10*time.Second, time.Millisecond)
}

func (s *startLimit) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}
