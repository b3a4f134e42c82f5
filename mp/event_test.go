package mp

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEventSync(t *testing.T) {
	p := startTest(t, Options{Events: 2})
	g := p.Events()
	require.Equal(t, 2, g.Len())
	ctx := context.Background()
	for range 10 {
		i, err := g.Reserve()
		require.NoError(t, err)
		require.NoError(t, p.Send(ctx, "set", Params{"event": i}))
		require.NoError(t, g.Wait(ctx, i))
		require.NoError(t, g.Release(i))
	}
}

func TestEventGroupErrors(t *testing.T) {
	p := startTest(t, Options{Events: 2})
	g := p.Events()
	a, err := g.Reserve()
	require.NoError(t, err)
	b, err := g.Reserve()
	require.NoError(t, err)
	assert.NotEqual(t, a, b)

	_, err = g.Reserve()
	assert.ErrorIs(t, err, ErrNoFreeEvent, "exhausted group")

	require.NoError(t, g.Release(a))
	assert.ErrorIs(t, g.Release(a), ErrEventNotReserved, "double release")
	assert.ErrorIs(t, g.Release(7), ErrEventIndex)
	assert.ErrorIs(t, g.Release(-1), ErrEventIndex)
	assert.ErrorIs(t, g.Wait(context.Background(), a), ErrEventNotReserved)
	assert.ErrorIs(t, g.Wait(context.Background(), 2), ErrEventIndex)

	c, err := g.Reserve()
	require.NoError(t, err)
	assert.Equal(t, a, c, "a released event is reused")
}

func TestEventWaitEndsWithContext(t *testing.T) {
	p := startTest(t, Options{Events: 1})
	g := p.Events()
	i, err := g.Reserve()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, g.Wait(ctx, i), context.DeadlineExceeded)

	// The interrupted wait left the event usable.
	require.NoError(t, p.Send(context.Background(), "set", Params{"event": i}))
	require.NoError(t, g.Wait(context.Background(), i))
}

func TestEventStaleSetIsClearedOnReserve(t *testing.T) {
	p := startTest(t, Options{Events: 1})
	g := p.Events()
	i, err := g.Reserve()
	require.NoError(t, err)
	// Set, then give up on it without waiting: the set is stale.
	_, err = p.Call(context.Background(), "set", Params{"event": i})
	require.NoError(t, err)
	require.NoError(t, g.Release(i))

	i, err = g.Reserve()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, g.Wait(ctx, i), context.DeadlineExceeded, "a stale set must not satisfy a new reservation")
}

func TestEventIndexOutOfRangeFromFrontend(t *testing.T) {
	out := &syncBuffer{}
	p := startTest(t, Options{Events: 1, Stdout: out})
	// A buggy frontend sends an index the group does not have.
	require.NoError(t, p.Send(context.Background(), "set", Params{"event": 5}))
	_, err := p.Call(context.Background(), "set", Params{"event": 5})
	require.ErrorIs(t, err, ErrHandler)
	assert.Contains(t, err.Error(), "set event 5 of a group of 1")
	_, err = p.Call(context.Background(), "pid", nil)
	require.NoError(t, err, "the backend keeps serving")
	require.NoError(t, p.Close())
	assert.Contains(t, out.String(), "set event 5 of a group of 1: event index out of range")
}

func TestEventConcurrentWaiters(t *testing.T) {
	p := startTest(t, Options{Events: 8})
	g := p.Events()
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				i, err := g.Reserve()
				if err != nil {
					// Another goroutine holds all of them for a moment.
					assert.ErrorIs(t, err, ErrNoFreeEvent)
					continue
				}
				assert.NoError(t, p.Send(ctx, "set", Params{"event": i}))
				assert.NoError(t, g.Wait(ctx, i))
				assert.NoError(t, g.Release(i))
			}
		})
	}
	wg.Wait()
}
