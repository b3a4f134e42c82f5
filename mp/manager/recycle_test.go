package manager_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// Fault: a worker that announces its end while idle (Backend.Stop from a
// goroutine of its own: it recycles itself after an idle time, or when it
// holds too much memory) stayed in the idle pool until its exit was seen,
// so a task submitted meanwhile was handed to it and failed with "worker
// died: ended itself" without ever running. Here the worker ends itself
// through a call the manager does not know of; the task submitted once its
// end is known must run, on the replacement.
func TestFaultIdleWorkerEndingItselfTakesNoTask(t *testing.T) {
	cfg, logs := config(1)
	cfg.MaxRestarts = 0
	ready := make(chan *manager.Worker, 2)
	cfg.OnReady = func(w *manager.Worker) { ready <- w }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	cancel, wait := runManager(t, m)
	w := <-ready
	p := w.Process()
	_, err = doJob.Call(context.Background(), p, job{Quit: true})
	require.NoError(t, err)
	require.True(t, isClosed(p.Ending()), "the reply comes after the end is announced")
	out := make(chan result, 1)
	require.NoError(t, m.Submit(jobTask("after", job{}, 0, out)))
	r := recv(t, out)
	require.NoError(t, r.err, "the task went to the worker that had announced its end")
	assert.NotEqual(t, p.Pid(), r.pid)
	cancel()
	require.NoError(t, wait())
	assert.NotContains(t, logs.String(), "died")
}

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Fault: the last task of a worker that recycles itself (Backend.Stop in
// its handler) and whose handler fails anyway (a file not found: the
// task's own error) ended with a *TaskError "worker died: ended itself",
// which does not wrap the handler's error: every Nth failure of a
// recycling pool lost its cause, or kept it, depending on which reached the
// loop first, the reply or the exit. The handler's error is the task's.
func TestFaultRecyclingWorkersLastTaskKeepsItsError(t *testing.T) {
	cfg, logs := config(1)
	cfg.MaxRestarts = 0
	m, err := manager.New(cfg)
	require.NoError(t, err)
	c := newCollect(10)
	for i := range 10 {
		require.NoError(t, m.Submit(c.task(fmt.Sprintf("t%d", i), job{Quit: true, Fail: "no such file"}, 0)))
	}
	cancel, wait := runManager(t, m)
	for name, r := range c.wait(t) {
		assert.ErrorIs(t, r.err, mp.ErrHandler, name)
		assert.ErrorContains(t, r.err, "no such file", name)
		assert.NotErrorIs(t, r.err, manager.ErrWorkerDied, name)
	}
	cancel()
	require.NoError(t, wait())
	assert.NotContains(t, logs.String(), "died")
}

// Fault: a task whose worker ended itself (Backend.Stop) before one of
// Do's calls got its answer ended with that call's error as is ("backend
// died: it exited on its own") when the loop saw the exit before Do
// returned, and with a *TaskError wrapping ErrWorkerDied when it saw Do's
// return first. Here the loop sees the exit first (the test waits for its
// log line before the second call): the task must still end with a
// *TaskError wrapping ErrWorkerDied.
func TestFaultCallCutShortByARecyclingWorkerIsATaskError(t *testing.T) {
	cfg, _ := config(1)
	cfg.MaxRestarts = 0
	exited := make(chan struct{}, 1)
	cfg.Log = slog.New(&onExited{exited})
	m, err := manager.New(cfg)
	require.NoError(t, err)
	done := make(chan error, 1)
	require.NoError(t, m.Submit(manager.Task{
		Name: "two-calls",
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			if _, err := doJob.Call(ctx, p, job{Quit: true}); err != nil {
				return err
			}
			<-exited // the loop has seen the exit, and waits for Do
			_, err := doJob.Call(ctx, p, job{})
			return err
		},
		Done: func(w *manager.Worker, err error) { done <- err },
	}))
	cancel, wait := runManager(t, m)
	err = <-done
	var te *manager.TaskError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, manager.ErrWorkerDied)
	assert.Equal(t, "worker-1", te.Worker)
	assert.Equal(t, "exit status 0", te.Exit)
	cancel()
	require.NoError(t, wait())
}

// onExited is a log handler that signals on its channel each time the
// manager's loop logs that a worker has exited ("worker state" at debug
// level), and drops every line.
type onExited struct{ ch chan<- struct{} }

func (h *onExited) Enabled(context.Context, slog.Level) bool { return true }
func (h *onExited) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *onExited) WithGroup(string) slog.Handler            { return h }
func (h *onExited) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "worker state" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "to" && a.Value.String() == manager.Exited.String() {
			select {
			case h.ch <- struct{}{}:
			default:
			}
		}
		return true
	})
	return nil
}

// Fault: when a Do outlived the exit of its worker that ended itself by
// more than ShutdownTimeout (the exit's report does not wait longer), and
// then failed, its task never ended: Done never ran, and a program waiting
// for it hung. Here Do returns only after OnExit has reported the exit,
// with the error of a call the worker never answered.
func TestFaultDoOutlivingItsRecycledWorkerStillEnds(t *testing.T) {
	cfg, _ := config(1)
	cfg.ShutdownTimeout = 100 * time.Millisecond
	reported := make(chan struct{}, 1)
	cfg.OnExit = func(*manager.Worker, *manager.ExitReport) { reported <- struct{}{} }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	done := make(chan error, 1)
	require.NoError(t, m.Submit(manager.Task{
		Name: "slow-after",
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			if _, err := doJob.Call(ctx, p, job{Quit: true}); err != nil {
				return err
			}
			<-reported // the exit was reported without waiting any longer
			_, err := doJob.Call(ctx, p, job{})
			return err
		},
		Done: func(w *manager.Worker, err error) { done <- err },
	}))
	cancel, wait := runManager(t, m)
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the task never ended")
	}
	assert.ErrorIs(t, err, manager.ErrWorkerDied)
	cancel()
	require.NoError(t, wait())
}

// Fault: when a task's Timeout passed after its worker had ended itself
// and the loop had seen the exit (Do still busy after the last reply), the
// manager "stopped" the worker already gone: it logged so, put the worker
// back in Stopping with its dead process, and a worker not restarted
// (transient) stayed so for ever; the task ended with Do's ctx error. The
// task must fail with ErrTaskTimeout, and the worker stay Exited.
func TestFaultTimeoutAfterTheWorkersExitStopsNothing(t *testing.T) {
	cfg, _ := config(1)
	cfg.Restart = manager.Transient
	exited := make(chan struct{}, 1)
	cfg.Log = slog.New(&onExited{exited})
	m, err := manager.New(cfg)
	require.NoError(t, err)
	done := make(chan error, 1)
	require.NoError(t, m.Submit(manager.Task{
		Name:    "slow-after",
		Timeout: 300 * time.Millisecond,
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			if _, err := doJob.Call(ctx, p, job{Quit: true}); err != nil {
				return err
			}
			<-exited     // the loop has seen the exit
			<-ctx.Done() // the timeout
			return ctx.Err()
		},
		Done: func(w *manager.Worker, err error) { done <- err },
	}))
	cancel, wait := runManager(t, m)
	err = <-done
	assert.ErrorIs(t, err, manager.ErrTaskTimeout)
	assert.ErrorContains(t, err, "its worker had ended itself (exit status 0)")
	w := m.Workers()[0]
	assert.Equal(t, manager.Exited, w.State())
	assert.True(t, w.Process() == nil, "the worker holds its dead process")
	cancel()
	require.NoError(t, wait())
}
