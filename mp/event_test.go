package mp

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventKind's handlers use the backend's side of an event.
var eventKind = NewKind("Eventful", func(b *Backend) *Backend { return b }).
	Handle("wait", func(b *Backend, ctx context.Context, m Message) error {
		// Wait until the frontend sets the event, then clear it.
		ev, err := backendEvent(b, m)
		if err != nil {
			return err
		}
		if err := ev.Wait(ctx); err != nil {
			return err
		}
		ev.Clear()
		return nil
	}).
	Handle("isset", func(b *Backend, ctx context.Context, m Message) error {
		ev, err := backendEvent(b, m)
		if err != nil {
			return err
		}
		return b.Reply(ctx, m, "isset", Params{"set": ev.IsSet()})
	})

func backendEvent(b *Backend, m Message) (*Event, error) {
	id, err := m.Params.Int("event")
	if err != nil {
		return nil, err
	}
	return b.Event(id)
}

// An event the backend sets (a "set" Send) ends the frontend's Wait, and
// Wait leaves it set. Ten events made and closed in turn over two slots
// show that a closed event's slot is used again.
func TestEventSync(t *testing.T) {
	p := startTest(t, Options{Events: 2})
	ctx := context.Background()
	for range 10 {
		ev, err := p.NewEvent()
		require.NoError(t, err)
		require.NoError(t, p.Send(ctx, "set", Params{"event": ev.ID()}))
		require.NoError(t, ev.Wait(ctx))
		assert.True(t, ev.IsSet(), "Wait does not clear the event")
		require.NoError(t, ev.Close())
	}
}

// The flag reads as Python's Event: Set, IsSet, Clear, and a Wait that
// returns at once while it is set.
func TestEventFlag(t *testing.T) {
	p := startTest(t, Options{Events: 1})
	ev, err := p.NewEvent()
	require.NoError(t, err)
	defer ev.Close()
	assert.False(t, ev.IsSet(), "a new event is cleared")
	require.NoError(t, ev.Set())
	require.NoError(t, ev.Set(), "setting twice is fine")
	assert.True(t, ev.IsSet())
	require.NoError(t, ev.Wait(context.Background()))
	ev.Clear()
	assert.False(t, ev.IsSet())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, ev.Wait(ctx), context.DeadlineExceeded, "cleared: the wait waits")
}

// The backend's side waits for the frontend's Set, and both sides see the
// same flag.
func TestEventBackendWaitsForTheFrontend(t *testing.T) {
	p, err := eventKind.Start(context.Background(), Options{Name: "eventful", Events: 1})
	require.NoError(t, err)
	defer p.Close()
	ev, err := p.NewEvent()
	require.NoError(t, err)
	defer ev.Close()
	ctx := context.Background()
	r, err := p.Call(ctx, "isset", Params{"event": ev.ID()})
	require.NoError(t, err)
	assert.Equal(t, false, r.Params["set"])

	waited := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, "wait", Params{"event": ev.ID()})
		waited <- err
	}()
	require.NoError(t, ev.Set())
	require.NoError(t, <-waited)
	assert.False(t, ev.IsSet(), "the backend cleared it")
}

// NewEvent fails with ErrNoFreeEvent once every slot holds an open event.
// Close frees a slot (a second Close does nothing, and the closed event's
// Wait fails with os.ErrClosed), and the next event in that slot has an ID
// of its own.
func TestEventSlots(t *testing.T) {
	p := startTest(t, Options{Events: 2})
	a, err := p.NewEvent()
	require.NoError(t, err)
	b, err := p.NewEvent()
	require.NoError(t, err)
	assert.NotEqual(t, a.ID(), b.ID())

	_, err = p.NewEvent()
	assert.ErrorIs(t, err, ErrNoFreeEvent, "every slot holds an open event")

	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "closing twice does nothing")
	assert.ErrorIs(t, a.Wait(context.Background()), os.ErrClosed)

	c, err := p.NewEvent()
	require.NoError(t, err)
	assert.NotEqual(t, a.ID(), c.ID(), "a slot's next event has an ID of its own")
}

// A Wait on an event nobody sets ends with its ctx's error when the
// deadline passes, and leaves the event usable: after the backend sets it,
// the next Wait returns.
func TestEventWaitEndsWithContext(t *testing.T) {
	p := startTest(t, Options{Events: 1})
	ev, err := p.NewEvent()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, ev.Wait(ctx), context.DeadlineExceeded)

	// The interrupted wait left the event usable.
	require.NoError(t, p.Send(context.Background(), "set", Params{"event": ev.ID()}))
	require.NoError(t, ev.Wait(context.Background()))
}

// Fault: the backend sets an event after the frontend closed it and made
// the next one in the same slot (a handler that ran late, a goroutine left
// behind). That Set was meant for the closed event: it must not raise the
// new one.
func TestFaultLateSetOfAClosedEventDoesNotSetTheNext(t *testing.T) {
	p := startTest(t, Options{Events: 1})
	old, err := p.NewEvent()
	require.NoError(t, err)
	require.NoError(t, old.Close())
	next, err := p.NewEvent()
	require.NoError(t, err)
	defer next.Close()

	// The late set, for the closed event: the backend has handled it
	// when Call returns.
	_, err = p.Call(context.Background(), "set", Params{"event": old.ID()})
	require.NoError(t, err)
	assert.False(t, next.IsSet(), "a set meant for the closed event raised the next one")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, next.Wait(ctx), context.DeadlineExceeded, "a set meant for the closed event satisfied the next one's wait")

	// The next event's own set still works.
	require.NoError(t, p.Send(context.Background(), "set", Params{"event": next.ID()}))
	require.NoError(t, next.Wait(context.Background()))
}

// Fault: the frontend sends an event ID the process does not have (index 5
// of a single slot), by Send and by Call. The Call must fail with ErrHandler
// and ErrEventIndex, the backend's output must report the refusal, and the
// backend must keep serving.
func TestEventIDOutOfRangeFromFrontend(t *testing.T) {
	out := &syncBuffer{}
	p := startTest(t, Options{Events: 1, Stdout: out})
	// A buggy frontend sends an ID the process does not have.
	bad := 5 | 1<<eventIndexBits
	require.NoError(t, p.Send(context.Background(), "set", Params{"event": bad}))
	_, err := p.Call(context.Background(), "set", Params{"event": bad})
	require.ErrorIs(t, err, ErrHandler)
	require.ErrorIs(t, err, ErrEventIndex)
	assert.Contains(t, err.Error(), "not one of the 1 events")
	_, err = p.Call(context.Background(), "pid", nil)
	require.NoError(t, err, "the backend keeps serving")
	require.NoError(t, p.Close())
	assert.Contains(t, out.String(), "not one of the 1 events of the process: no such event")
}

// Eight goroutines each make an event, have the backend set it, wait on it
// and close it, fifty times, over eight slots. NewEvent may find no free
// slot (ErrNoFreeEvent: the round is skipped); every other step must
// succeed, and under -race the slots must show no data race.
func TestEventConcurrentWaiters(t *testing.T) {
	p := startTest(t, Options{Events: 8})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				ev, err := p.NewEvent()
				if err != nil {
					// Another goroutine holds all of them for a moment.
					assert.ErrorIs(t, err, ErrNoFreeEvent)
					continue
				}
				assert.NoError(t, p.Send(ctx, "set", Params{"event": ev.ID()}))
				assert.NoError(t, ev.Wait(ctx))
				assert.NoError(t, ev.Close())
			}
		})
	}
	wg.Wait()
}

// Fault: a goroutine waits on an event while another closes it. The Wait
// must end with os.ErrClosed rather than sleep until its ctx ends, and the
// next event made in the slot still gets its own wake-up.
func TestFaultWaitOnAnEventBeingClosedEnds(t *testing.T) {
	p := startTest(t, Options{Events: 1})
	old, err := p.NewEvent()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- old.Wait(ctx) }()
	// Close once the Wait sleeps on the doorbell: it has passed its checks.
	for !goroutineIn("(*eventSlots).sleep") {
		runtime.Gosched()
	}
	require.NoError(t, old.Close())
	assert.ErrorIs(t, <-waited, os.ErrClosed)

	next, err := p.NewEvent()
	require.NoError(t, err)
	defer next.Close()
	require.NoError(t, p.Send(context.Background(), "set", Params{"event": next.ID()}))
	require.NoError(t, next.Wait(ctx))
}

// goroutineIn reports whether a goroutine of this process runs fn.
func goroutineIn(fn string) bool { return proctest.GoroutinesIn(fn) > 0 }

// aGoroutineIn reports whether one goroutine of this process runs all of
// fns (one calling the next, as its stack shows them).
func aGoroutineIn(fns ...string) bool {
	return proctest.GoroutinesIn(fns...) > 0
}
