package manager_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// panicking is a task whose Do makes the call j and then panics with v,
// or with the call's error if v is nil; out gets how it ended.
func panicking(name string, j job, v any, out chan<- result) manager.Task {
	return manager.Task{
		Name: name,
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			_, err := doJob.Call(ctx, p, j)
			if v == nil {
				panic(err)
			}
			panic(v)
		},
		Done: func(w *manager.Worker, err error) { out <- result{w: w.Name(), err: err} },
	}
}

// Fault: a panic in a task's Do, which runs on a goroutine of the
// manager's, ended the whole program, every worker and every other task
// with it, and no doc said so. The manager must recover it: the task ends
// with a *PanicError wrapping ErrTaskPanic (and the value, if it is an
// error), which says what, where and on which worker, with the stack; the
// log says so; and the worker, whose process is not at fault, takes the
// next task.
func TestFaultPanicInDoEndsTheTaskNotTheProgram(t *testing.T) {
	cfg, logs := config(1)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 3)
	errBoom := errors.New("boom")
	require.NoError(t, m.Submit(panicking("text", job{}, "boom 7", out)))
	require.NoError(t, m.Submit(panicking("error", job{}, errBoom, out)))
	require.NoError(t, m.Submit(jobTask("next", job{}, 0, out)))
	cancel, wait := runManager(t, m)

	text := recv(t, out)
	var pe *manager.PanicError
	require.ErrorAs(t, text.err, &pe)
	assert.ErrorIs(t, text.err, manager.ErrTaskPanic)
	assert.Equal(t, "boom 7", pe.Value)
	assert.Equal(t, "text", pe.Task)
	assert.Equal(t, "worker-1", pe.Worker)
	assert.Contains(t, pe.Site, "panic_test.go:")
	assert.Contains(t, string(pe.Stack), "panicking.func1", "the stack shows the Do that panicked")
	assert.Contains(t, text.err.Error(), `manager: task "text" on worker "worker-1"`)
	assert.Contains(t, text.err.Error(), "task panicked in Do: boom 7, at ")

	withErr := recv(t, out)
	assert.ErrorIs(t, withErr.err, manager.ErrTaskPanic)
	assert.ErrorIs(t, withErr.err, errBoom)

	next := recv(t, out)
	require.NoError(t, next.err)
	assert.Equal(t, pe.Pid, next.pid, "the worker was replaced after a panic in Do")
	cancel()
	require.NoError(t, wait())
	assert.Contains(t, logs.String(), `ERROR - manager: task "text" on worker "worker-1"`)
}

// A panic in Do stands as the task's error whatever else happened: here Do
// panics with the error of its call, which the manager's stop cut short
// (SIGTERM cancels the handler's ctx), and the worker's exit, seen before
// or after, does not turn it into mp.ErrStopped.
func TestPanicInDoDuringTheStopStands(t *testing.T) {
	cfg, _ := config(1)
	started := make(chan struct{}, 1)
	cfg.OnMessage = notified(started)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 1)
	require.NoError(t, m.Submit(panicking("cut", job{Notify: true, Sleep: time.Minute}, nil, out)))
	cancel, wait := runManager(t, m)
	<-started
	cancel()
	r := recv(t, out)
	assert.ErrorIs(t, r.err, manager.ErrTaskPanic)
	assert.NotErrorIs(t, r.err, mp.ErrStopped)
	require.NoError(t, wait())
}
