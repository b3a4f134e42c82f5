package mp

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Fault: polling on a machine where more threads want to run than there are
// CPUs takes the CPU from the peer it waits for. When the kernel keeps
// preempting the process, spinners poll no more; when it stops, they do
// again. The preemption count is faked; each look is loadEvery apart.
func TestPollingStopsWhileTheMachineIsBusy(t *testing.T) {
	var fake atomic.Int64
	old := preemptions
	preemptions = fake.Load
	t.Cleanup(func() {
		preemptions = old
		loadState.checked.Store(0)
		loadState.busy.Store(false)
	})
	look := func(preempted int64) bool {
		fake.Add(preempted)
		s := newSpinner()
		s.arrived() // data came just now: polling would pay
		loadState.checked.Store(monotonic() - 2*loadEvery)
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
