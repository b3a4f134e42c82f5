package mp

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitingKind's "bwait" waits, on the backend, for the event the message
// names, after saying "waiting", and reports how the Wait ended.
var waitingKind = NewKind("EventWaiter", func(b *Backend) *Backend { return b }).
	Handle("bwait", func(b *Backend, ctx context.Context, m Message) error {
		ev, err := backendEvent(b, m)
		if err != nil {
			return err
		}
		if err := b.Send(ctx, "waiting", nil); err != nil {
			return err
		}
		werr := ev.Wait(ctx)
		s := "ok"
		if werr != nil {
			s = werr.Error()
		}
		return b.Send(ctx, "waited", Params{"err": s, "closed": errors.Is(werr, os.ErrClosed)})
	})

// Fault (found by a review): the frontend closes an event the backend waits
// on. Close says a Wait in progress returns os.ErrClosed, but only the
// frontend's did: the backend's waited until its ctx ended (its stop). Close
// now gives the slot its next generation at once, which the backend's Wait
// sees, and rings the doorbell if the Wait sleeps on it.
func TestFaultBackendWaitOnAClosedEventEnds(t *testing.T) {
	p, err := waitingKind.Start(context.Background(), Options{Name: "waiter", Events: 1})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close(); requireNoLeftovers(t) })
	ev, err := p.NewEvent()
	require.NoError(t, err)
	backendWaits(t, p, ev)
	require.NoError(t, ev.Close())
	assert.Equal(t, "closed", backendWaitEnded(t, p), "how the backend's Wait ended")
}

// backendWaits has p's backend ("bwait") wait on ev, and returns once that
// Wait has counted itself in the slot's word: it sleeps on the doorbell,
// or is about to, and only a ring wakes it.
func backendWaits(t *testing.T, p *Process, ev *Event) {
	t.Helper()
	require.NoError(t, p.Send(context.Background(), "bwait", Params{"event": ev.ID()}))
	require.Equal(t, "waiting", (<-p.Messages()).Command)
	requireWithin(t, 5*time.Second, func() {
		for p.events.word(ev.i).Load()&eventWaiters == 0 {
			runtime.Gosched()
		}
	})
}

// backendWaitEnded returns how the Wait backendWaits started ended: "ok",
// "closed" (os.ErrClosed), or its error's text.
func backendWaitEnded(t *testing.T, p *Process) string {
	t.Helper()
	select {
	case m := <-p.Messages():
		if closed, _ := m.Params.Bool("closed"); closed {
			return "closed"
		}
		s, _ := m.Params.String("err")
		return s
	case <-time.After(5 * time.Second): // a bound on a wait that must end, not a synchronization
		t.Fatal("the backend's Wait did not end")
		return ""
	}
}

// Fault (found by a review): a Wait that outlasts the kernel wait watches a
// duplicate of its doorbell in the runtime's poller. Near the descriptor
// limit the duplicate fails, and such Waits failed with "too many open
// files", where before they needed no descriptor. They now wait in the
// kernel instead.
func TestFaultLongWaitsNeedNoDescriptorOfTheirOwn(t *testing.T) {
	p := startTest(t, Options{Events: 32})
	var evs []*Event
	for range 32 {
		ev, err := p.NewEvent()
		require.NoError(t, err)
		evs = append(evs, ev)
	}
	var old unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &old))
	lim := old
	lim.Cur = uint64(countFDs(t) + 8) // room for a few duplicates only
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lim))
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(evs))
	for i, ev := range evs {
		wg.Go(func() { errs[i] = ev.Wait(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		assert.ErrorIs(t, err, context.DeadlineExceeded, "wait %d", i)
	}
}
