package manager_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp/manager"
)

// Fault: once every worker had exited for good (here two transient
// workers that end themselves after one task, as a pool with a task budget
// does) and none would be restarted, the tasks still queued, and any
// submitted later, waited for ever: their Done never ran, and a program
// waiting for them hung until Run's ctx ended. They must end at once, with
// no worker and an error wrapping ErrNoWorkers; the manager keeps running.
func TestFaultTasksNoWorkerWillTakeEnd(t *testing.T) {
	cfg, logs := config(2)
	cfg.Restart = manager.Transient
	m, err := manager.New(cfg)
	require.NoError(t, err)
	c := newCollect(5)
	for i := range 4 {
		require.NoError(t, m.Submit(c.task(fmt.Sprintf("t%d", i), job{Quit: true}, 0)))
	}
	cancel, wait := runManager(t, m)
	out := make(chan result, 1)
	require.NoError(t, m.Submit(jobTask("late", job{}, 0, out)))
	late := recv(t, out)
	assert.ErrorIs(t, late.err, manager.ErrNoWorkers)
	assert.Empty(t, late.w)
	require.NoError(t, m.Submit(c.task("t4", job{}, 0)))
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
	assert.Equal(t, [2]int{2, 3}, [2]int{ran, none}, "each worker runs one task, then none is left")
	cancel()
	require.NoError(t, wait())
	assert.Contains(t, logs.String(), "no worker left")
}
