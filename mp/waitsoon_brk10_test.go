package mp

import (
	"context"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Tests of waitSoon (block.go): blockFor counted down by ppoll(2)'s own
// account of the time left, through signals; blockFor zero or tiny; the
// bound on concurrent waiters kept by an atomic counter.

// brk10Pipe is a non-blocking pipe, closed when the test ends.
func brk10Pipe(t *testing.T) (r, w int) {
	var p [2]int
	require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK))
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

// Provokes: signals (SIGURG, the runtime's own, sent with tgkill(2) to the
// very thread that waits) interrupt waitSoon's ppoll(2) over and over,
// each time long before blockFor is up. waitReadableFor retries on EINTR
// with the same left, which the kernel has updated to what is left of it
// (ppoll(2) writes the time left back on EINTR too). Fault it catches: a
// retry that waits blockFor anew (left restored, or a fresh timespec per
// try) never ends while the signals keep coming.
func TestWaitSoonEndsThoughSignalsInterruptEachWait(t *testing.T) {
	setForTest(t, &blockFor, 50*time.Millisecond)
	r, _ := brk10Pipe(t) // never readable

	tids := make(chan int, 1)
	done := make(chan bool, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		done <- waitSoon(context.Background(), r, func() bool { return true }, nil)
	}()
	tid := <-tids
	pid := os.Getpid()
	deadline := time.After(10 * time.Second) // a bound on failure, not a wait
	sent := 0
	for {
		select {
		case got := <-done:
			assert.False(t, got, "the pipe never became readable")
			assert.Positive(t, sent)
			return
		case <-deadline:
			t.Fatalf("waitSoon still waiting 200 times blockFor after %d signals: each EINTR restarted its wait", sent)
		default:
		}
		if unix.Tgkill(pid, tid, unix.SIGURG) == nil {
			sent++
		}
		time.Sleep(200 * time.Microsecond) // pace: many signals per blockFor
	}
}

// Edge: blockFor zero, or a nanosecond, or a microsecond, with the pipe
// readable and a try that never succeeds: waitSoon ends. A wait of zero
// does not wait in the kernel at all, so try is never called (blockFor 0
// is how tests turn the kernel wait off); a tiny one ends once ppoll(2)
// writes back that nothing is left. Faults it catches, each checked: a
// loop that goes on with nothing left (its condition `>= 0` for `> 0`),
// and a wait that does not carry the time left from one ppoll(2) to the
// next (a copy of *left per wait): each wait on the readable pipe returns
// at once, and the tries pass wakeCap within a second; a waiter that does
// not take its increment of blockers back.
func TestWaitSoonWithNoOrTinyBlockForEnds(t *testing.T) {
	// wakeCap is far more wake-ups than a microsecond of the kernel's time
	// holds (each ppoll(2) spends some of it, even on a clock that ticks
	// every 10 ms), and far fewer than a loop that never ends does in a
	// blink: giveUp stops such a loop there, so the test ends either way.
	const wakeCap = 100_000
	r, w := brk10Pipe(t)
	_, err := unix.Write(w, []byte("x"))
	require.NoError(t, err)
	for _, d := range []time.Duration{0, time.Nanosecond, time.Microsecond} {
		setForTest(t, &blockFor, d)
		tries := 0
		try := func() bool { tries++; return false }
		giveUp := func() bool { return tries >= wakeCap }
		done := make(chan bool, 1)
		go func() { done <- waitSoon(context.Background(), r, try, giveUp) }()
		select {
		case got := <-done:
			assert.False(t, got, "blockFor %v", d)
			assert.Less(t, tries, wakeCap, "blockFor %v: waitSoon went on waiting with no time left", d)
			if d == 0 {
				assert.Zero(t, tries, "blockFor 0 waited in the kernel")
			}
		case <-time.After(10 * time.Second): // a bound on failure, not a wait
			t.Fatalf("waitSoon with blockFor %v did not end", d)
		}
	}
	assert.Zero(t, blockers.Load(), "every waiter left the count")
}

// Stress: many goroutines enter waitSoon at once on a pipe that stays
// readable (try, never succeeding, runs on each wake-up). At most
// maxBlockers are inside at any moment, whatever the interleaving of the
// counter's increments and decrements, and the count is back to zero
// after. Fault it catches: a refused waiter that does not take its
// increment back (the count creeps up until nobody waits in the kernel;
// checked). A bound checked apart from the increment is not caught: try,
// where concurrency is measured, is too short a window.
func TestWaitSoonBoundHoldsUnderContention(t *testing.T) {
	setForTest(t, &blockFor, 200*time.Microsecond)
	r, w := brk10Pipe(t)
	_, err := unix.Write(w, []byte("x"))
	require.NoError(t, err)
	var inside, most atomic.Int32
	try := func() bool {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		inside.Add(-1)
		return false
	}
	var wg sync.WaitGroup
	for range 4 * int(maxBlockers) {
		wg.Go(func() {
			for range 50 {
				waitSoon(context.Background(), r, try, nil)
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, most.Load(), maxBlockers)
	assert.Positive(t, most.Load())
	assert.Zero(t, blockers.Load())
}
