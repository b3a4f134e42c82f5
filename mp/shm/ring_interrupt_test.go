package shm

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a wait's ctx ends just as the wait ends for another reason (a
// frame came). The interrupt, begun in its own goroutine, used to run after
// Next had returned, and after the test (or a program) had closed the ring:
// it wrote its 8 bytes into the cancel eventfd's number, which by then
// named another file — in this package's tests, a new ring's segment, whose
// magic became "\x01\x00…" (TestRingSideTakenByTwoAtOnce failed so about
// once in 50 runs of the package). The interrupt is held here (hook
// beforeInterrupt) while a frame ends the wait: Next must not return before
// the interrupt has run.
func TestRingWaitOutlivesItsInterrupt(t *testing.T) {
	r, err := CreateRingAnon("interrupt", RingConfig{SlotSize: 64, Slots: 2})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)

	held, release := make(chan struct{}), make(chan struct{})
	beforeInterrupt = func() { close(held); <-release }
	t.Cleanup(func() { beforeInterrupt = nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Next(ctx)
		done <- err
	}()
	require.Eventually(t, func() bool { return proctest.GoroutinesIn("(*Consumer).Next", "poll") > 0 }, 10*time.Second, time.Millisecond, "Next asleep")
	cancel()
	<-held
	buf, err := p.Reserve(context.Background())
	require.NoError(t, err)
	require.NoError(t, p.Commit(copy(buf, "f")))
	// Next has its frame (or ctx's error); it must wait for the interrupt.
	for deadline := time.Now().Add(10 * time.Second); proctest.GoroutinesIn("(*side).wait.func2", "chan receive") == 0; {
		select {
		case err := <-done:
			t.Fatalf("Next returned (%v) while its interrupt was still to run", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "Next neither returned nor waited for its interrupt")
		runtime.Gosched()
	}
	close(release)
	<-done
	assert.NoError(t, c.Close())
}
