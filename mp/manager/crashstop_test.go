package manager_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// Fault: a worker whose handler panicked just before the manager's stop
// began, when the loop saw its exit only after, had its task fail with
// mp.ErrStopped ("stopped while the task ran: the manager stops"), which a
// program takes for the normal end of the run (part2/main1's Done returns
// silently on it), and no line said that the worker died. The stop is
// made to come first: the loop is held in OnMessage until the worker has
// reported its panic and Run's ctx has ended, and the worker's next
// message, which precedes its exit, makes the loop begin the stop. The
// task must fail with ErrWorkerDied and the panic, OnExit report the
// failure, and the log say the worker died.
func TestFaultCrashJustBeforeTheStopIsACrash(t *testing.T) {
	cfg, logs := config(1)
	procs := make(chan *mp.Process, 1)
	release := make(chan struct{})
	first := true
	cfg.OnMessage = func(w *manager.Worker, msg mp.Message) {
		if first {
			first = false
			procs <- w.Process()
			<-release
		}
	}
	reports := make(chan *manager.ExitReport, 1)
	cfg.OnExit = func(w *manager.Worker, e *manager.ExitReport) { reports <- e }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 1)
	require.NoError(t, m.Submit(jobTask("crash", job{Ticks: 2, Panic: true}, 0, out)))
	cancel, wait := runManager(t, m)
	p := <-procs
	<-p.Ending()
	require.Equal(t, mp.EndFatal, p.EndReason(), "the panic is known before the stop")
	cancel()
	close(release)
	r := recv(t, out)
	assert.ErrorIs(t, r.err, manager.ErrWorkerDied)
	assert.ErrorIs(t, r.err, mp.ErrHandlerPanic)
	assert.NotErrorIs(t, r.err, mp.ErrStopped)
	require.NoError(t, wait())
	select {
	case e := <-reports:
		assert.True(t, e.Failure)
		assert.False(t, e.Restart)
		assert.Equal(t, "crash", e.Task)
		assert.Contains(t, e.String(), "not restarted (the manager stops)")
	default:
		t.Error("OnExit was not called")
	}
	assert.Contains(t, logs.String(), `died: exit status 7 (mp: a handler panicked), running task "crash"`)
}

// Fault: a worker that failed during the manager's orderly stop, after the
// manager had asked it to stop (its handler panics on the stop's SIGTERM),
// was reported as stopped: its task failed with mp.ErrStopped, OnExit was
// not called and the log said nothing of the crash. As for a crash just
// before the stop (above), the task must fail with ErrWorkerDied and the
// panic, OnExit report the failure (not restarted: the manager stops), and
// the log say the worker died; Run's result stays nil.
func TestFaultCrashDuringTheStopIsACrash(t *testing.T) {
	cfg, logs := config(1)
	started := make(chan struct{}, 1)
	cfg.OnMessage = notified(started)
	reports := make(chan *manager.ExitReport, 1)
	cfg.OnExit = func(w *manager.Worker, e *manager.ExitReport) { reports <- e }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 1)
	require.NoError(t, m.Submit(jobTask("crash", job{Notify: true, Term: true, Panic: true}, 0, out)))
	cancel, wait := runManager(t, m)
	<-started
	cancel() // the stop's SIGTERM makes the handler panic
	r := recv(t, out)
	assert.ErrorIs(t, r.err, manager.ErrWorkerDied)
	assert.ErrorIs(t, r.err, mp.ErrHandlerPanic)
	assert.NotErrorIs(t, r.err, mp.ErrStopped)
	assert.ErrorContains(t, r.err, "worker died: failed (exit status 7 (mp: a handler panicked))")
	require.NoError(t, wait())
	select {
	case e := <-reports:
		assert.True(t, e.Failure)
		assert.False(t, e.Restart)
		assert.Equal(t, "crash", e.Task)
		assert.Equal(t, mp.EndFatal, e.Reason)
		assert.Contains(t, e.String(), "not restarted (the manager stops)")
	default:
		t.Error("OnExit was not called")
	}
	assert.Contains(t, logs.String(), `died: exit status 7 (mp: a handler panicked), running task "crash"; not restarted (the manager stops)`)
}
