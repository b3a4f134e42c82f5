package manager_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// Fault: a worker that announced its own end (here it recycles itself
// after a task) but then never exits (its PostRun hangs, deaf to SIGTERM:
// a flush to a server that does not answer) kept its slot in Stopping for
// ever: the manager waits for an exit it did not ask for, so with one
// worker the next task waited for ever, as Python's Pool does with a
// maxtasksperchild worker stuck in its exit. The manager must stop it
// (the stop ladder, bounded by ShutdownTimeout) once it has not exited
// ShutdownTimeout after announcing its end, and replace it.
func TestFaultWorkerThatEndsButNeverExitsIsStopped(t *testing.T) {
	cfg, logs := config(1)
	cfg.MaxRestarts = 0
	cfg.ShutdownTimeout = 200 * time.Millisecond
	cfg.Start = func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
		return testWorkers.Start(ctx, mp.Options{Name: w.Name(), Params: mp.Params{"postrun": "hang"}, StopTimeout: 100 * time.Millisecond})
	}
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 2)
	require.NoError(t, m.Submit(jobTask("last", job{Quit: true}, 0, out)))
	require.NoError(t, m.Submit(jobTask("next", job{}, 0, out)))
	cancel, wait := runManager(t, m)
	first := recv(t, out)
	require.NoError(t, first.err)
	next := recv(t, out)
	require.NoError(t, next.err, "the next task waited for a worker that never exits")
	assert.NotEqual(t, first.pid, next.pid)
	cancel()
	require.NoError(t, wait(), "the stuck worker's stop counted as a failure")
	assert.Contains(t, logs.String(), "did not exit within 200ms of announcing its end")
}

// Fault: an idle worker that announced its end (Backend.Stop from a
// goroutine of its own) stayed in the idle pool, counted by Idle, until a
// task came or it exited; one whose PostRun then hangs was never stopped
// nor replaced while no task came. The manager must notice the end at
// once: the worker leaves the pool, and is stopped and replaced once it
// has not exited ShutdownTimeout later.
func TestFaultIdleWorkerThatEndsButNeverExitsIsReplaced(t *testing.T) {
	cfg, _ := config(1)
	cfg.ShutdownTimeout = 200 * time.Millisecond
	cfg.Start = func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
		return testWorkers.Start(ctx, mp.Options{Name: w.Name(), Params: mp.Params{"postrun": "hang"}, StopTimeout: 100 * time.Millisecond})
	}
	ready := make(chan *mp.Process, 2)
	cfg.OnReady = func(w *manager.Worker) { ready <- w.Process() }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	cancel, wait := runManager(t, m)
	p := <-ready
	_, err = doJob.Call(context.Background(), p, job{Quit: true})
	require.NoError(t, err)
	select {
	case q := <-ready:
		assert.NotEqual(t, p.Pid(), q.Pid())
	case <-time.After(10 * time.Second):
		t.Fatal("the worker that ended itself was not replaced within 10 s")
	}
	cancel()
	require.NoError(t, wait())
}
