package shm

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/spin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pollingOn turns polling on with a clock that advances 100 ns at every
// reading, so that no poll looks preempted and none runs out of its
// window, and undoes it at the end of the test.
func pollingOn(t *testing.T) {
	oldNow, oldOff := spin.Now, spin.Off
	now := int64(1e9)
	spin.Now = func() int64 { now += 100; return now }
	spin.Off = false
	spin.Forget()
	t.Cleanup(func() { spin.Now, spin.Off = oldNow, oldOff; spin.Forget() })
}

// A consumer reads a stream in runs only when it is dense: when its last
// wait for a frame ended while it polled, within a few looks. A frame that
// came after many looks, or to a consumer that slept, leaves it reading
// frame by frame, so that a sparse stream's frames (the polled latency)
// never wait for a run.
func TestRingDenseStreamIsOneWhoseFramesComeAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		arrives int  // the look at which the frame is committed
		sleeps  bool // polling off: the wait sleeps
		dense   bool
	}{
		{name: "second look", arrives: 1, dense: true},
		{name: "after many looks", arrives: denseLooks + 10},
		{name: "after a sleep", arrives: 1, sleeps: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pollingOn(t)
			spin.Off = tc.sleeps
			_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 128})
			c.spin.done() // a frame came just now: the next wait polls
			looks := 0
			afterSeqLoad = func() {
				// The look that just loaded the sequence number
				// missed the frame committed here.
				if looks++; looks == tc.arrives {
					write(t, p, "f")
				}
			}
			t.Cleanup(func() { afterSeqLoad = nil })
			assert.Equal(t, "f", read(t, c))
			assert.Equal(t, tc.dense, c.dense)
		})
	}
}

// Fault: a consumer of a dense stream waits for a run of frames that never
// comes (the producer stopped after one). It waits for at most runWait,
// then takes the frame that is there. Unbounded, Next spins for good (the
// test then fails after 10 s).
func TestRingRunThatNeverComesIsNotAwaited(t *testing.T) {
	pollingOn(t)
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 128})
	require.Equal(t, uint64(16), c.ahead)
	c.dense = true
	c.spin.done()
	var tries int
	afterSeqLoad = func() {
		if tries++; tries == 1 {
			write(t, p, "only") // after Next's first look
		}
	}
	t.Cleanup(func() { afterSeqLoad = nil })
	got := make(chan string, 1)
	go func() {
		f, err := c.Next(context.Background())
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(f)
	}()
	select {
	case s := <-got:
		assert.Equal(t, "only", s)
	case <-time.After(10 * time.Second):
		t.Fatal("Next still waits for a run of frames that never comes")
	}
}
