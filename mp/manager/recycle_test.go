package manager_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
