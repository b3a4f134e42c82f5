package manager_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// Fault: a worker is killed with SIGKILL in the middle of a task. The task
// must fail at once with the worker's name, PID and signal; the worker is
// reported and restarted; the other workers carry on.
func TestFaultWorkerKilledMidTask(t *testing.T) {
	cfg, logs := config(2)
	started := make(chan int, 1)
	exits := make(chan *manager.ExitReport, 1)
	readies := map[string]int{}
	cfg.OnMessage = func(w *manager.Worker, msg mp.Message) {
		if msg.Command == "started" {
			started <- w.Process().Pid()
		}
	}
	cfg.OnExit = func(w *manager.Worker, e *manager.ExitReport) { exits <- e }
	cfg.OnReady = func(w *manager.Worker) { readies[w.Name()]++ }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 4)
	m.Submit(jobTask("doomed", job{Hang: true, Notify: true}, 0, out))
	runManager(t, m)

	pid := <-started
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	var r result
	select {
	case r = <-out:
	case <-time.After(5 * time.Second):
		t.Fatal("the task of a killed worker never ended")
	}
	var te *manager.TaskError
	require.ErrorAs(t, r.err, &te)
	assert.ErrorIs(t, r.err, manager.ErrWorkerDied)
	assert.Equal(t, "doomed", te.Task)
	assert.Equal(t, pid, te.Pid)
	assert.Equal(t, "signal: killed", te.Exit)
	e := <-exits
	assert.Equal(t, "doomed", e.Task)
	assert.Equal(t, pid, e.Pid)
	assert.Contains(t, logs.String(), `died: signal: killed, running task "doomed"`)

	// The rest carry on, and the killed worker comes back.
	for i := range 2 {
		m.Submit(jobTask("after", job{Sleep: time.Millisecond}, 0, out))
		r := recv(t, out)
		assert.NoError(t, r.err, "task %d after the kill", i)
	}
	assert.Contains(t, logs.String(), "restarting")
}

// Fault: a handler panics, so the worker reports the panic and then exits.
// The reply (the panic) reaches the task before the exit does: the manager
// must not take it for an ordinary failed task and hand the dying worker
// the next task; the task fails with how the worker ended. (The worker is
// temporary, so "next" then fails with ErrNoWorkers, without running.)
func TestFaultPanicIsAWorkerDeath(t *testing.T) {
	cfg, _ := config(1)
	cfg.Restart = manager.Temporary // so that no worker runs "next"
	exits := make(chan *manager.ExitReport, 1)
	cfg.OnExit = func(w *manager.Worker, e *manager.ExitReport) { exits <- e }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out, next := make(chan result, 1), make(chan result, 1)
	m.Submit(jobTask("crash", job{Panic: true}, 0, out))
	m.Submit(jobTask("next", job{}, 0, next))
	cancel, wait := runManager(t, m)
	r := recv(t, out)
	var te *manager.TaskError
	require.ErrorAs(t, r.err, &te, "the panic came back as an ordinary task error: %v", r.err)
	assert.Equal(t, "crash", te.Task)
	assert.Equal(t, "exit status 7 (mp: a handler panicked)", te.Exit)
	assert.ErrorIs(t, r.err, mp.ErrHandlerPanic)
	assert.Equal(t, "crash", (<-exits).Task)
	cancel()
	require.NoError(t, wait())
	r = recv(t, next)
	assert.ErrorIs(t, r.err, manager.ErrNoWorkers, "next went to the dying worker: %v", r.err)
	assert.Empty(t, r.w)
}

// Fault: SIGTERM sent to a worker from outside while it runs a task used
// to end that task with a plain handler error ("context canceled"), and
// the next task, handed to the exiting worker, failed with "worker died"
// without running. The interrupted task must fail as a TaskError wrapping
// ErrWorkerDied, and the next run on the replacement.
func TestFaultExternalSIGTERMBlamesTheRightTask(t *testing.T) {
	cfg, logs := config(1)
	cfg.MaxRestarts = 0 // being terminated from outside is no failure
	started := make(chan int, 1)
	cfg.OnMessage = func(w *manager.Worker, msg mp.Message) {
		if msg.Command == "started" {
			started <- w.Process().Pid()
		}
	}
	reports := make(chan *manager.ExitReport, 1)
	cfg.OnExit = func(w *manager.Worker, e *manager.ExitReport) { reports <- e }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	c := newCollect(2)
	require.NoError(t, m.Submit(c.task("interrupted", job{Sleep: time.Hour, Notify: true}, 0)))
	require.NoError(t, m.Submit(c.task("next", job{}, 0)))
	cancel, wait := runManager(t, m)
	pid := <-started
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
	res := c.wait(t)
	var te *manager.TaskError
	require.ErrorAs(t, res["interrupted"].err, &te)
	assert.ErrorIs(t, te, manager.ErrWorkerDied)
	assert.Equal(t, pid, te.Pid)
	assert.Contains(t, te.Error(), "terminated by a signal from outside")
	require.NoError(t, res["next"].err, "the next task went to the exiting worker")
	assert.NotEqual(t, pid, res["next"].pid)
	e := <-reports
	assert.False(t, e.Failure)
	assert.Equal(t, mp.EndTerminated, e.Reason)
	assert.Equal(t, "interrupted", e.Task)
	cancel()
	require.NoError(t, wait())
	assert.NotContains(t, logs.String(), "ERROR")
}

// Fault: a task whose Do returned an error wrapping mp.ErrBackendDied that
// came from another process (say, a second backend the task called) used to
// leave its worker out of the pool for ever, and its Done never ran. The
// manager asks the worker's own process, not the error's wording.
func TestFaultErrorFromAnotherProcessKeepsTheWorker(t *testing.T) {
	cfg, _ := config(1)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	other := fmt.Errorf("calling the database's backend: %w", mp.ErrBackendDied)
	doneErr := make(chan error, 1)
	require.NoError(t, m.Submit(manager.Task{
		Name: "other",
		Do:   func(context.Context, *manager.Worker, *mp.Process) error { return other },
		Done: func(w *manager.Worker, err error) { doneErr <- err },
	}))
	c := newCollect(1)
	require.NoError(t, m.Submit(c.task("next", job{}, 0)))
	cancel, wait := runManager(t, m)
	select {
	case err := <-doneErr:
		assert.Equal(t, other, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the task's Done never ran")
	}
	assert.NoError(t, c.wait(t)["next"].err, "the worker left the pool")
	cancel()
	require.NoError(t, wait())
}
