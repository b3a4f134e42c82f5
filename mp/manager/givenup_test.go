package manager_test

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// givingUp is a task whose Do gives up its call of j (a deadline of its
// own, here a cancel) once the handler has started (started receives), and
// returns the Call's error; out gets it with the worker's PID.
func givingUp(name string, j job, started <-chan struct{}, out chan<- result) manager.Task {
	var pid int
	return manager.Task{
		Name: name,
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			pid = p.Pid()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-started:
					cancel()
				case <-ctx.Done():
				}
			}()
			_, err := doJob.Call(ctx, p, j)
			return err
		},
		Done: func(w *manager.Worker, err error) { out <- result{w: w.Name(), pid: pid, err: err} },
	}
}

// notified passes the workers' "started" messages to started.
func notified(started chan<- struct{}) func(*manager.Worker, mp.Message) {
	return func(_ *manager.Worker, msg mp.Message) {
		if msg.Command == "started" {
			started <- struct{}{}
		}
	}
}

// Fault: a task's Do that gave up a call through a ctx of its own, while
// the handler ignores its ctx and never returns, put its worker back in the
// idle pool still busy with that handler; the next task (no Timeout) went
// to it and waited for ever behind the handler. The worker must take no
// task while the call given up runs, and be stopped and replaced once it
// has not been answered ShutdownTimeout after Do returned; the first task
// ends with Do's own error, and the stop is no failure.
func TestFaultCallGivenUpByDoDoesNotHoldTheNextTask(t *testing.T) {
	cfg, logs := config(1)
	cfg.MaxRestarts = 0
	cfg.ShutdownTimeout = 200 * time.Millisecond
	cfg.Start = func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
		return testWorkers.Start(ctx, mp.Options{Name: w.Name(), StopTimeout: 100 * time.Millisecond})
	}
	started := make(chan struct{}, 1)
	cfg.OnMessage = notified(started)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 2)
	require.NoError(t, m.Submit(givingUp("first", job{Notify: true, Hang: true}, started, out)))
	require.NoError(t, m.Submit(jobTask("next", job{}, 0, out)))
	cancel, wait := runManager(t, m)
	first := recv(t, out)
	require.ErrorIs(t, first.err, context.Canceled, "the first task ends with Do's own error")
	next := recv(t, out)
	require.NoError(t, next.err)
	assert.NotEqual(t, first.pid, next.pid, "the next task ran on the worker whose handler never returns")
	cancel()
	require.NoError(t, wait(), "the stop of the stuck worker counted as a failure")
	assert.Contains(t, logs.String(), "a call its last task gave up on was not answered within 200ms: stopping it")
}

// Fault: as above, but the handler Do gave up on returns after a while
// (deaf to its ctx for 1.5 s): the next task went to the worker at once and
// its call waited behind that handler, failing its own 1 s deadline.
// The worker must take the next task only once the backend has answered
// the call given up, and stay the same process (it is not replaced).
func TestFaultNextTaskWaitsForTheCallGivenUp(t *testing.T) {
	cfg, logs := config(1)
	cfg.ShutdownTimeout = 5 * time.Second // the wait for the answer: well beyond 1.5 s
	started := make(chan struct{}, 1)
	cfg.OnMessage = notified(started)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 2)
	require.NoError(t, m.Submit(givingUp("first", job{Notify: true, Deaf: 1500 * time.Millisecond}, started, out)))
	var pid int
	require.NoError(t, m.Submit(manager.Task{
		Name: "next",
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) (err error) {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			pid, err = doJob.Call(ctx, p, job{})
			return err
		},
		Done: func(w *manager.Worker, err error) { out <- result{w: w.Name(), pid: pid, err: err} },
	}))
	cancel, wait := runManager(t, m)
	first := recv(t, out)
	require.ErrorIs(t, first.err, context.Canceled)
	next := recv(t, out)
	require.NoError(t, next.err, "the next task's call waited behind the handler given up")
	assert.Equal(t, first.pid, next.pid, "the worker was replaced, though the call given up was answered")
	cancel()
	require.NoError(t, wait())
	assert.NotContains(t, logs.String(), "stopping it")
}

// Fault: during the manager's stop, a worker whose process still ran a call
// its last task had given up on (see settle) was stopped like an idle one:
// the stop ladder closed its command pipe and waited Options.StopTimeout
// for the handler before SIGTERM, though nobody waits for that call; here
// the handler returns on SIGTERM alone, and StopTimeout (30 s) is beyond
// ShutdownTimeout (5 s), so it was killed at the stop's deadline without
// ever seeing SIGTERM. It must get SIGTERM at once, as a worker running a
// task does: the handler says so ("term") and the worker exits by itself,
// well within ShutdownTimeout.
func TestFaultStopTerminatesAWorkerFinishingAGivenUpCall(t *testing.T) {
	cfg, _ := config(1)
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Start = func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
		return testWorkers.Start(ctx, mp.Options{Name: w.Name(), StopTimeout: 30 * time.Second})
	}
	started := make(chan struct{}, 1)
	term := make(chan struct{}, 1)
	cfg.OnMessage = func(w *manager.Worker, msg mp.Message) {
		switch msg.Command {
		case "started":
			started <- struct{}{}
		case "term":
			term <- struct{}{}
		}
	}
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 1)
	require.NoError(t, m.Submit(givingUp("first", job{Notify: true, Term: true}, started, out)))
	cancel, wait := runManager(t, m)
	first := recv(t, out)
	require.ErrorIs(t, first.err, context.Canceled)
	// The loop has put the worker in its wait for the call given up in the
	// same turn as it ran Done: the stop comes after.
	stopped := time.Now()
	cancel()
	require.NoError(t, wait())
	select {
	case <-term:
	default:
		t.Fatal("the worker's handler never got SIGTERM: it was stopped like an idle worker")
	}
	assert.Less(t, time.Since(stopped), cfg.ShutdownTimeout, "the stop took its whole deadline")
}

// onRecord is a log handler that signals on ch each time the manager logs
// msg (at any level, debug too), and passes the lines next takes to next.
type onRecord struct {
	msg  string
	ch   chan<- struct{}
	next slog.Handler
}

func (h *onRecord) Enabled(context.Context, slog.Level) bool { return true }
func (h *onRecord) WithAttrs(a []slog.Attr) slog.Handler {
	return &onRecord{h.msg, h.ch, h.next.WithAttrs(a)}
}
func (h *onRecord) WithGroup(g string) slog.Handler {
	return &onRecord{h.msg, h.ch, h.next.WithGroup(g)}
}
func (h *onRecord) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// Fault: a worker whose process died while it was still running a call
// its last task had given up on (the task had ended; the worker waited
// for the answer, see settle) was reported "while idle", as if it had
// been doing nothing. Here the handler given up on waits, deaf to its ctx,
// for a tool the test kills once the manager waits for the answer, and
// then panics. The report (OnExit, the log) must say that the worker was
// finishing a call that task gave up on, not that it was idle.
func TestFaultDeathFinishingAGivenUpCallIsNotIdle(t *testing.T) {
	cfg, logs := config(1)
	cfg.ShutdownTimeout = 10 * time.Second // the wait for the answer outlasts the test
	waiting := make(chan struct{}, 1)
	cfg.Log = slog.New(&onRecord{msg: "worker runs a call its task gave up on", ch: waiting, next: cfg.Log.Handler()})
	tools := make(chan int, 1)
	started := make(chan struct{}, 1)
	cfg.OnMessage = func(w *manager.Worker, msg mp.Message) {
		if msg.Command == "tool" {
			pid, _ := msg.Params.Int("pid")
			tools <- pid
			started <- struct{}{}
		}
	}
	reports := make(chan *manager.ExitReport, 1)
	cfg.OnExit = func(w *manager.Worker, e *manager.ExitReport) { reports <- e }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 1)
	require.NoError(t, m.Submit(givingUp("first", job{Tool: true, Panic: true}, started, out)))
	cancel, wait := runManager(t, m)
	tool := <-tools
	require.ErrorIs(t, recv(t, out).err, context.Canceled)
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the manager does not wait for the call given up")
	}
	require.NoError(t, syscall.Kill(tool, syscall.SIGKILL)) // the handler goes on, and panics
	var e *manager.ExitReport
	select {
	case e = <-reports:
	case <-time.After(10 * time.Second):
		t.Fatal("OnExit was not called")
	}
	assert.True(t, e.Failure)
	assert.Empty(t, e.Task, "the task had ended")
	want := `died: exit status 7 (mp: a handler panicked), finishing a call that task "first" gave up on; restarting it`
	assert.Contains(t, e.String(), want)
	assert.NotContains(t, e.String(), "while idle")
	cancel()
	require.NoError(t, wait())
	assert.Contains(t, logs.String(), want)
}
