package mp

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Fault (found by a review): a slot's doorbell serves each of its uses in
// turn. The backend's Wait on an event sleeps; the backend is stopped (as
// a loaded machine may leave it for a moment); the frontend closes the
// event, which rings, and made the next event in the same slot, whose Wait
// read that ring first, found its own event neither set nor gone and slept
// again: thawed, the backend's Wait never ended, where Close promises
// os.ErrClosed for a Wait in progress on either side. A slot is now free
// only once no Wait sleeps on its doorbell: the next event takes another
// slot, or NewEvent says that none is free yet.
func TestFaultCloseRingReadByTheNextUsesWait(t *testing.T) {
	for _, slots := range []int{1, 2} {
		p, err := waitingKind.Start(context.Background(), Options{Name: "waiter", Events: slots, StopTimeout: time.Second})
		require.NoError(t, err)
		ev, err := p.NewEvent()
		require.NoError(t, err)
		backendWaits(t, p, ev)
		require.NoError(t, unix.Kill(p.Pid(), unix.SIGSTOP))
		requireStopped(t, p.Pid())
		require.NoError(t, ev.Close())

		next, err := p.NewEvent()
		if slots == 1 {
			require.ErrorIs(t, err, ErrNoFreeEvent, "the only slot still has a Wait asleep")
			assert.Contains(t, err.Error(), "with a Wait still ending")
		} else {
			require.NoError(t, err)
			require.NotEqual(t, ev.i, next.i, "the slot with a Wait asleep is not reused")
		}
		require.NoError(t, unix.Kill(p.Pid(), unix.SIGCONT))
		assert.Equal(t, "closed", backendWaitEnded(t, p), "how the backend's Wait on the closed event ended")
		if slots == 1 {
			next, err = p.NewEvent() // the Wait is awake: the slot is free
			require.NoError(t, err)
		}
		require.NoError(t, next.Set())
		require.NoError(t, next.Wait(context.Background()))
		require.NoError(t, next.Close())
		require.NoError(t, p.Close())
	}
	requireNoLeftovers(t)
}

// Fault (found by the same review): two Waits on one event, one on each
// side. A Set rang once, and the Wait that read the ring returned while the
// other slept on. The first awake now passes the ring on.
func TestEventSetWakesBothSidesWaits(t *testing.T) {
	p, err := waitingKind.Start(context.Background(), Options{Name: "two-waits", Events: 1})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close(); requireNoLeftovers(t) })
	ev, err := p.NewEvent()
	require.NoError(t, err)
	backendWaits(t, p, ev)
	waited := make(chan error, 1)
	go func() { waited <- ev.Wait(context.Background()) }()
	requireWithin(t, 5*time.Second, func() { // both counted
		for p.events.word(ev.i).Load()&eventWaiters != 2*eventWaiter {
			runtime.Gosched()
		}
	})
	require.NoError(t, ev.Set())
	select {
	case err := <-waited:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the frontend's Wait did not end")
	}
	assert.Equal(t, "ok", backendWaitEnded(t, p), "how the backend's Wait ended")
}
