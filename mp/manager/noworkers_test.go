package manager_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp/manager"
)

// Fault: once every worker had exited for good (here two transient
// workers that end themselves after one task, as a pool with a task budget
// does) and none would be restarted, the tasks still queued, and any
// submitted later, waited for ever: their Done never ran, and a program
// waiting for them hung until Run's ctx ended. The queued ones must end at
// once, with no worker and an error wrapping ErrNoWorkers, and Submit then
// refuse new ones with it (so that a Done that submits the next task does
// not spin); the manager keeps running.
func TestFaultTasksNoWorkerWillTakeEnd(t *testing.T) {
	cfg, logs := config(2)
	cfg.Restart = manager.Transient
	m, err := manager.New(cfg)
	require.NoError(t, err)
	c := newCollect(4)
	for i := range 4 {
		require.NoError(t, m.Submit(c.task(fmt.Sprintf("t%d", i), job{Quit: true}, 0)))
	}
	cancel, wait := runManager(t, m)
	out := make(chan result, 1)
	resubmit := make(chan error, 1)
	late := runJob("late", job{}, 0, func(r result) {
		out <- r
		resubmit <- m.Submit(jobTask("again", job{}, 0, out))
	})
	require.NoError(t, m.Submit(late))
	r := recv(t, out)
	assert.ErrorIs(t, r.err, manager.ErrNoWorkers)
	assert.Empty(t, r.w)
	assert.ErrorIs(t, <-resubmit, manager.ErrNoWorkers)
	ran, none := 0, 0
	for name, r := range c.wait(t) {
		if r.err == nil {
			ran++
			continue
		}
		none++
		assert.ErrorIs(t, r.err, manager.ErrNoWorkers, name)
		assert.Empty(t, r.w, name)
	}
	assert.Equal(t, [2]int{2, 2}, [2]int{ran, none}, "each worker runs one task, then none is left")
	cancel()
	require.NoError(t, wait())
	assert.Equal(t, 1, strings.Count(logs.String(), "no worker left"), "warned once")
}
