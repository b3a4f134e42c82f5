package manager_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// Fault: a Do that ends its goroutine with runtime.Goexit (t.FailNow, as
// require does, in a test's Do) skipped the event that ends the task: the
// recovery saw no panic, the task never ended (no Done), its worker stayed
// Busy for good and the next task never ran. The task must end as a
// panicking Do's does, with a *PanicError wrapping ErrTaskPanic that says
// Goexit was called and where, and the worker must take the next task.
func TestFaultGoexitInDoEndsTheTask(t *testing.T) {
	cfg, _ := config(1)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 2)
	require.NoError(t, m.Submit(manager.Task{
		Name: "goexit",
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			if _, err := doJob.Call(ctx, p, job{}); err != nil {
				return err
			}
			runtime.Goexit()
			return nil
		},
		Done: func(w *manager.Worker, err error) { out <- result{w: w.Name(), err: err} },
	}))
	require.NoError(t, m.Submit(jobTask("next", job{}, 0, out)))
	cancel, wait := runManager(t, m)

	first := recv(t, out)
	var pe *manager.PanicError
	require.ErrorAs(t, first.err, &pe)
	assert.ErrorIs(t, first.err, manager.ErrTaskPanic)
	assert.Contains(t, first.err.Error(), "runtime.Goexit")
	assert.Contains(t, pe.Site, "panic_rev13b_test.go:", "the site is the Do that called Goexit")
	next := recv(t, out)
	require.NoError(t, next.err)
	assert.Equal(t, pe.Pid, next.pid, "the worker took the next task")
	cancel()
	require.NoError(t, wait())
}

// Fault: a Do that panicked on the error of a call whose worker had just
// crashed ended its task at once, which cleared the worker's task before
// its exit was seen: the exit was reported as a death "while idle"
// (ExitReport.Task empty, in the log and OnExit), though the worker died
// running that task. The exit must name the task, and the task's error
// stay the *PanicError.
func TestFaultPanicOnAWorkerDeathNamesTheTask(t *testing.T) {
	cfg, logs := config(1)
	reports := make(chan *manager.ExitReport, 4)
	cfg.OnExit = func(w *manager.Worker, r *manager.ExitReport) { reports <- r }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 1)
	require.NoError(t, m.Submit(panicking("doomed", job{Panic: true}, nil, out)))
	cancel, wait := runManager(t, m)

	r := recv(t, out)
	assert.ErrorIs(t, r.err, manager.ErrTaskPanic, "the panic stands")
	assert.ErrorIs(t, r.err, mp.ErrHandlerPanic, "its value is the call's error")
	rep := <-reports
	assert.True(t, rep.Failure)
	assert.Equal(t, "doomed", rep.Task, "the worker died running the task")
	assert.NotContains(t, rep.String(), "while idle")
	cancel()
	require.NoError(t, wait())
	assert.Contains(t, logs.String(), `running task "doomed"`)
}
