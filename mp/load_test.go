package mp

import (
	"sync/atomic"
	"testing"

	"github.com/mpgo/mp/internal/busy"
	"github.com/stretchr/testify/assert"
)

// Fault: polling on a machine where more threads want to run than there are
// CPUs takes the CPU from the peer it waits for. When the kernel keeps
// preempting the process, spinners poll no more; when it stops, they do
// again. The preemption count is faked.
func TestPollingStopsWhileTheMachineIsBusy(t *testing.T) {
	if spinOff {
		t.Skip("MP_SPIN=0: no polling to stop")
	}
	var fake atomic.Int64
	old := busy.Preemptions
	busy.Preemptions = fake.Load
	t.Cleanup(func() { busy.Preemptions = old; busy.Forget() })
	busy.Forget()
	look := func(preempted int64) bool {
		fake.Add(preempted)
		busy.Expire()
		s := newSpinner()
		s.arrived() // data came just now: polling would pay
		tries := 0
		s.poll(func() bool { tries++; return true })
		return tries > 0
	}
	look(0) // the first look only reads the count
	assert.True(t, look(0), "quiet: polls")
	assert.False(t, look(5), "preempted 5 times since the last look: no polling")
	assert.False(t, look(3), "still preempted")
	assert.True(t, look(0), "quiet again: polls again")
}
