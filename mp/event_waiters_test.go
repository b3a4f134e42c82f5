package mp

import (
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// rung reports whether slot i's doorbell holds a ring nobody read.
func rung(t *testing.T, p *Process, i int) bool {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(p.events.fds[i]), Events: unix.POLLIN}}
	_, err := unix.Poll(pfd, 0)
	require.NoError(t, err)
	return pfd[0].Revents&unix.POLLIN != 0
}

// Set and Close ring the doorbell only for a Wait that sleeps on it: a ring
// for nobody costs a system call, and the next Wait in the slot would wake
// for it, look at the flag and sleep again (two more). A Wait that does
// sleep is still woken by either, and the count of sleepers goes with the
// slot's use.
func TestEventRingsOnlyForASleepingWait(t *testing.T) {
	p := startTest(t, Options{Events: 1})
	ctx := context.Background()
	ev, err := p.NewEvent()
	require.NoError(t, err)
	require.NoError(t, ev.Set())
	assert.False(t, rung(t, p, ev.i), "a Set with no Wait rang the doorbell")
	require.NoError(t, ev.Wait(ctx))
	require.NoError(t, ev.Close())
	assert.False(t, rung(t, p, 0), "a Close with no Wait rang the doorbell")

	// A Wait that sleeps is woken by the backend's Set, then by a Close.
	for _, end := range []string{"set", "close"} {
		ev, err := p.NewEvent()
		require.NoError(t, err)
		waited := make(chan error, 1)
		go func() { waited <- ev.Wait(ctx) }()
		for !goroutineIn("(*eventSlots).sleep") {
			runtime.Gosched()
		}
		if end == "set" {
			require.NoError(t, p.Send(ctx, "set", Params{"event": ev.ID()}))
			require.NoError(t, <-waited)
		} else {
			require.NoError(t, ev.Close())
			require.ErrorIs(t, <-waited, os.ErrClosed)
		}
		ev.Close()
		assert.Equal(t, uint64(0), p.events.word(0).Load()&eventWaiters, "the sleeper left the count (%s)", end)
		assert.False(t, rung(t, p, 0), "the ring was read (%s)", end)
	}
}
