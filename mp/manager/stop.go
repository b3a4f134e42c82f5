package manager

import (
	"context"
	"fmt"
)

// The manager's stop: Run's ctx ended, the restart intensity was reached,
// or a first start failed. Every worker is stopped at once, in parallel;
// the loop goes on until all have exited and the Do functions still
// running have returned (or the bounds on them have passed).

// stopAll is why the manager stops a worker when it stops (Worker.stopWhy).
const stopAll = "the manager stops"

// stop begins the shutdown: no more starts or tasks; every worker is
// stopped in parallel within ShutdownTimeout. err becomes Run's result.
func (m *Manager) stop(err error) {
	if m.stopping {
		return
	}
	m.stopping, m.err = true, err
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.endWork()
	m.cancelRestarts()
	m.starting -= len(m.queued) // never to run
	for _, w := range m.queued {
		m.setState(w, Exited, nil)
	}
	m.queued = nil
	m.stopCtx, m.endStop = context.WithTimeout(m.killCtx, m.cfg.ShutdownTimeout)
	// A replacement still starting is stopped too, so it counts.
	m.log.Info(fmt.Sprintf("stopping %s", workers(m.live+m.starting)))
	for _, w := range m.workers {
		if p := w.proc; p != nil {
			m.stopWorker(w, p, stopAll)
			r := w.task
			if (r != nil && r.proc == p && !r.returned) || p.WaitAbandoned(ended) != nil {
				// A running task is cancelled, not awaited; so is a
				// call a task gave up on (see settle), which nobody
				// waits for.
				terminate(p)
			}
		}
	}
	m.idle = nil
}

// forceStop kills the workers still running and stops waiting for tasks:
// Config.Force was closed.
func (m *Manager) forceStop() {
	m.log.Warn("forced stop: killing the workers still running, not waiting for tasks")
	m.killAll()
	m.cfg.Force, m.forced = nil, true
	m.giveUp()
}

// giveUp stops waiting for the Do functions still running, once the
// workers are gone: Run returns without them.
func (m *Manager) giveUp() {
	if m.abandon || len(m.doing) == 0 {
		return
	}
	m.abandon = true
	if m.live == 0 && m.starting == 0 {
		m.log.Warn(fmt.Sprintf("all workers stopped; not waiting any longer for the Do of %s, which ignored its ctx: their Done will not run", m.waitingFor()))
	}
}
