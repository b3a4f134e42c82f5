package shm

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: the process on the other side of a ring dies while this side is
// not waiting, and a new process takes its side over (as Consumer and
// Producer allow once the old one is dead). This side had watched the old
// process in an earlier wait, and kept its pidfd: its next wait found
// that pidfd readable and declared the new, live peer dead (naming the new
// PID), for good: every later wait failed at once with ErrPeerDied while
// the new peer was there to wake it. A side watches the process that the
// header names now.
//
// The waits: one that resolves the old peer (ended by a context), the old
// peer killed and replaced, one more wait ended by a context (where the
// stale pidfd fired), and a last one that the new peer ends by publishing.
func TestRingWatchesThePeerThatTookOver(t *testing.T) {
	for _, tc := range []struct {
		name   string
		helper string // the other side's mode
		act    string // what the new peer does to end the last wait
	}{
		{name: "producer waits for a slot", helper: "consumer", act: "next"},
		{name: "consumer waits for a frame", helper: "producer", act: "produce x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := CreateRingAnon("over", RingConfig{SlotSize: 64, Slots: 2})
			require.NoError(t, err)
			defer r.Close()
			var wait func(ctx context.Context) error
			if tc.helper == "consumer" {
				p, err := r.Producer()
				require.NoError(t, err)
				write(t, p, "a")
				write(t, p, "b")
				wait = func(ctx context.Context) error { _, err := p.Reserve(ctx); return err }
			} else {
				c, err := r.Consumer()
				require.NoError(t, err)
				wait = func(ctx context.Context) error {
					f, err := c.Next(ctx)
					if err == nil && string(f) != "x" {
						err = fmt.Errorf("read %q", f)
					}
					return err
				}
			}
			old, first := startBrk12Helper(t, r, tc.helper)
			require.Equal(t, "ready", first)
			var onSleep atomic.Pointer[func()]
			sleepHooks(t, func(*side, int) {
				if f := onSleep.Load(); f != nil {
					(*f)()
				}
			}, nil)
			sleepOnce := func(f func()) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				act := func() { f(); cancel() }
				onSleep.Store(&act)
				require.ErrorIs(t, wait(ctx), context.Canceled, "a wait ended by its context")
				onSleep.Store(nil)
			}
			sleepOnce(func() {}) // watches the old peer
			old.kill()
			h, first := startBrk12Helper(t, r, tc.helper)
			require.Equal(t, "ready", first, "the dead peer's side is taken over")
			sleepOnce(func() {})
			var answer string
			act := func() { answer = h.do(tc.act) }
			onSleep.Store(&act)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = wait(ctx)
			onSleep.Store(nil)
			require.NoError(t, err, "the new peer is alive, and ends the wait")
			assert.Contains(t, []string{"a", "produced"}, answer)
		})
	}
}
