package manager

import (
	"context"
	"fmt"

	"github.com/mpgo/mp/mp"
)

// A task's Do may give up a call through a deadline of its own; the
// handler's ctx is cancelled, but a handler that ignores it runs on, and
// the backend handles nothing else meanwhile. A worker whose process still
// runs such a call is not idle: it takes no task until the backend has
// answered the call, and is stopped and replaced if it has not within
// ShutdownTimeout.

// ended is a context that has ended: Process.WaitAbandoned with it tells,
// without waiting, whether a call given up still runs.
var ended = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// settle puts w, whose process p has just ended the task named task, back
// in the idle pool; or, if a call that task gave up on still runs in p,
// keeps it busy until the backend has answered it (settled).
func (m *Manager) settle(w *Worker, p *mp.Process, task string) {
	if p.WaitAbandoned(ended) == nil {
		m.setState(w, Idle, p)
		m.idle = append(m.idle, w)
		return
	}
	w.gaveUp = task // for the report of an exit meanwhile
	m.log.Debug("worker runs a call its task gave up on", "worker", w.name, "pid", p.Pid())
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(m.killCtx, m.cfg.ShutdownTimeout)
		err := p.WaitAbandoned(ctx)
		cancel()
		m.send(event{kind: evFunc, fn: func() { m.settled(w, p, err) }})
	}()
}

// settled handles the end of settle's wait for w's process p: err is nil
// if the call given up was answered (or p exited).
func (m *Manager) settled(w *Worker, p *mp.Process, err error) {
	if w.proc != p || w.State() != Busy || w.task != nil || m.stopping {
		return // it exited, or is being stopped
	}
	switch {
	case isClosed(p.Ending()):
		// It answered, or failed (a fatal error ends the calls too),
		// and announced its end: its exit follows, and its report says
		// what the worker was doing (gaveUp).
		m.ending(w, p)
	case err == nil:
		w.gaveUp = ""
		m.setState(w, Idle, p)
		m.idle = append(m.idle, w)
	default:
		why := fmt.Sprintf("a call its last task gave up on was not answered within %v", m.cfg.ShutdownTimeout)
		m.log.Warn(fmt.Sprintf("worker %q (pid %d): %s: stopping it", w.name, p.Pid(), why))
		m.stopWorker(w, p, why)
		terminate(p) // the handler ignores its ctx: no use waiting for it
	}
}
