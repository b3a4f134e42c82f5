package shm

import (
	"sync/atomic"
	"testing"

	"github.com/mpgo/mp/internal/busy"
	"github.com/stretchr/testify/assert"
)

// Fault: a side that polls the ring while the kernel keeps preempting the
// process takes the CPU its peer needs (the 64-byte rate fell to a third
// of what the same ring did without polling). While the machine is busy,
// the ring's poller does not poll. The preemption count is faked.
func TestRingPollingStopsWhileTheMachineIsBusy(t *testing.T) {
	var fake atomic.Int64
	old := busy.Preemptions
	busy.Preemptions = fake.Load
	t.Cleanup(func() { busy.Preemptions = old; busy.Forget() })
	busy.Forget()
	look := func(preempted int64) bool {
		fake.Add(preempted)
		busy.Expire()
		s := newPoller()
		s.done() // a frame came just now: polling would pay
		tries := 0
		s.poll(func() (bool, error) { tries++; return true, nil })
		return tries > 0
	}
	look(0) // the first look only reads the count
	assert.True(t, look(0), "quiet: polls")
	assert.False(t, look(5), "preempted 5 times since the last look: no polling")
	assert.True(t, look(0), "quiet again: polls again")
}
