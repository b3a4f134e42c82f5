package shm

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/spin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sleepHooks sets beforeSleep and afterWake for the test (nil leaves one
// unset), turns polling off, so that every wait sleeps, and undoes it all
// at the end.
func sleepHooks(t *testing.T, before func(s *side, timeout int), after func(s *side)) {
	t.Helper()
	oldSpin := spin.SetOff(true)
	beforeSleep, afterWake = before, after
	t.Cleanup(func() { spin.SetOff(oldSpin); beforeSleep, afterWake = nil, nil })
}

// Fault: this process cannot run membarrier (fenceOthers fails) while the
// other side publishes without a fence, so the other side's look at the
// waiting flag may pass the store of its frame (or of its release) and
// miss the flag: a lost wake-up. The test loses it on purpose: while one
// side sleeps, the other publishes with the sleeper's flag hidden from it.
// The sleep is bounded (1 ms), and the next look finds what was published;
// unbounded, the side would sleep for good (the test then interrupts the
// sleep, and fails).
func TestRingSleepIsBoundedWithoutMembarrier(t *testing.T) {
	for _, tc := range []struct {
		name    string
		full    bool // the ring is filled first
		waiter  func(p *Producer, c *Consumer) *side
		publish func(t *testing.T, p *Producer, c *Consumer)
		await   func(ctx context.Context, p *Producer, c *Consumer) error
	}{{
		name:    "consumer waits for a frame",
		waiter:  func(p *Producer, c *Consumer) *side { return &c.side },
		publish: func(t *testing.T, p *Producer, c *Consumer) { write(t, p, "late") },
		await: func(ctx context.Context, p *Producer, c *Consumer) error {
			_, err := c.Next(ctx)
			return err
		},
	}, {
		name:    "producer waits for a slot",
		full:    true,
		waiter:  func(p *Producer, c *Consumer) *side { return &p.side },
		publish: func(t *testing.T, p *Producer, c *Consumer) { read(t, c) },
		await: func(ctx context.Context, p *Producer, c *Consumer) error {
			_, err := p.Reserve(ctx)
			return err
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			// 8 slots: the consumer's releases go out one by one.
			r, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 8})
			if tc.full {
				for range 8 {
					write(t, p, "f")
				}
			}
			// The other side says it publishes without a fence,
			// and this process cannot run one.
			r.words.prodFenceless.Store(1)
			r.words.consFenceless.Store(1)
			oldFence := fenceOthers
			fenceOthers = func() bool { return false }
			t.Cleanup(func() { fenceOthers = oldFence })
			waiter := tc.waiter(p, c)
			var timeouts []int
			sleepHooks(t, func(s *side, timeout int) {
				require.Same(t, waiter, s, "only the waiting side sleeps")
				timeouts = append(timeouts, timeout)
				if len(timeouts) == 1 {
					// The other side's look at the flag comes
					// before the flag's store reached it.
					waiter.waiting.Store(0)
					tc.publish(t, p, c)
					waiter.waiting.Store(1)
				}
				if timeout < 0 {
					waiter.interrupt() // no bound: it would sleep for good
				}
			}, nil)
			// No wake-up is pending (taking a side wakes the other).
			drain(waiter.sleepFD)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			require.NoError(t, tc.await(ctx, p, c))
			t.Logf("seen %v after the lost wake-up", time.Since(start))
			assert.Equal(t, []int{1}, timeouts, "one sleep of at most 1 ms, then the next look finds it")
		})
	}
}

// Fault: a producer waiting on a full ring is woken by something that is
// not the consumer (a signal, the 1 ms bound; here its cancel eventfd),
// and the consumer releases a slot before the producer looks again. The
// producer's waiting flag stays set until that look, so the consumer sees
// it waiting and publishes the release at once; had the wake-up cleared
// the flag, the consumer would keep the release back for its batch (an
// eighth of the ring) while the producer went to sleep again on a ring
// that has a free slot. A second sleep is that failure: the test then ends
// the wait through its context.
func TestRingReleaseBetweenWakeUpAndLookIsPublished(t *testing.T) {
	r, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 16}) // batches of 2
	for range 16 {
		write(t, p, "f")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleeps, wakes := 0, 0
	sleepHooks(t, func(s *side, timeout int) {
		require.Same(t, &p.side, s, "only the producer sleeps")
		if sleeps++; sleeps == 1 {
			s.interrupt() // a wake-up that is not the consumer's
		} else {
			cancel()
		}
	}, func(s *side) {
		if wakes++; wakes == 1 {
			assert.Equal(t, "f", read(t, c), "the consumer releases one slot")
		}
	})
	_, err := p.Reserve(ctx)
	require.NoError(t, err, "the producer slept again with the tail at %d, the consumer at %d",
		r.words.tail.Load(), c.pos)
	assert.Equal(t, 1, sleeps)
}
