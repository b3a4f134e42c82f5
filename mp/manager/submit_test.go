package manager_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp/manager"
)

// Fault: a Task without Do (a forgotten field) was queued like any other,
// and the whole program crashed when a worker took it: a nil function call
// on a goroutine of the manager, far from the Submit that caused it.
// Submit must refuse it with an error wrapping ErrConfig that names the
// task, queue nothing and call no Done. (The manager is not run: without
// the check, running it would crash the test binary.)
func TestFaultSubmitRefusesATaskWithoutDo(t *testing.T) {
	cfg, _ := config(1)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	called := false
	err = m.Submit(manager.Task{Name: "no-do", Done: func(*manager.Worker, error) { called = true }})
	assert.ErrorIs(t, err, manager.ErrConfig)
	assert.ErrorContains(t, err, `"no-do"`)
	assert.Zero(t, m.Queued())
	assert.False(t, called)
}
