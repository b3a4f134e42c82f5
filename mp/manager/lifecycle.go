package manager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mpgo/mp/mp"
)

// start queues the start of w's process. Starts run in the background, in
// the order they were queued (workers by index at first), at most
// StartConcurrency at a time, each bounded by StartTimeout; each result
// comes back to the loop as an evStarted event.
func (m *Manager) start(w *Worker) {
	m.setState(w, Starting, nil)
	m.starting++
	m.queued = append(m.queued, w)
	m.pumpStarts()
}

// pumpStarts launches queued starts while there is room.
func (m *Manager) pumpStarts() {
	for m.inflight < m.cfg.StartConcurrency && len(m.queued) > 0 && !m.stopping {
		w := m.queued[0]
		m.queued = m.queued[1:]
		m.inflight++
		w.since = time.Now()
		ctx, cancel := context.WithTimeoutCause(m.workCtx, m.cfg.StartTimeout,
			fmt.Errorf("%w: not ready within %v", ErrStartTimeout, m.cfg.StartTimeout))
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer cancel()
			p, err := m.cfg.Start(ctx, w)
			if err == nil && p == nil {
				err = fmt.Errorf("Config.Start returned no process for %q", w.name)
			}
			m.send(event{kind: evStarted, w: w, proc: p, err: err})
		}()
	}
}

// watch forwards the messages of w's process p to the loop, in order with
// the moment p announces its end, then its exit. A message that arrives
// while others wait in the channel goes with them, in one event: the
// fan-in costs one channel operation per batch.
func (m *Manager) watch(w *Worker, p *mp.Process) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		in, ending := p.Messages(), p.Ending()
		for {
			var msg mp.Message
			var ok bool
			select {
			case msg, ok = <-in:
			case <-ending:
				ending = nil
				m.send(event{kind: evEnding, w: w, proc: p})
				continue
			}
			if !ok {
				break
			}
			// Sized for what waits in the channel now: one allocation
			// per batch, not one per doubling.
			batch := make([]mp.Message, 1, 1+min(len(in), 255))
			batch[0] = msg
		more:
			for len(batch) < 256 {
				select {
				case x, ok := <-in:
					if !ok {
						break more
					}
					batch = append(batch, x)
				default:
					break more
				}
			}
			m.sendMessages(event{kind: evMessages, w: w, proc: p, msgs: batch})
		}
		<-p.Done()
		m.send(event{kind: evExit, w: w, proc: p})
	}()
}

// idleEnding handles the announced end of w's process p: if p is idle, it
// leaves the pool at once (see ending). A busy one ends with its task
// (taskDone).
func (m *Manager) idleEnding(w *Worker, p *mp.Process) {
	if w.proc == p && w.State() == Idle {
		m.removeIdle(w)
		m.ending(w, p)
	}
}

// started handles the end of a start.
func (m *Manager) started(w *Worker, p *mp.Process, err error) {
	m.starting--
	m.inflight--
	defer m.pumpStarts()
	if err != nil {
		m.setState(w, Exited, nil)
		switch {
		case m.stopping:
			// The start was cut short by the stop.
		case !w.started:
			m.stop(fmt.Errorf("manager: start %q: %w", w.name, err))
		default:
			last := fmt.Errorf("restart of %q failed: %w", w.name, err)
			m.log.Error(last.Error())
			if delay, ok := m.failure(w, last); ok {
				m.restartIn(w, delay)
			}
		}
		return
	}
	first := !w.started
	w.started, w.stopWhy, w.upSince, w.tasks = true, "", time.Now(), 0
	m.live++
	m.watch(w, p)
	switch {
	case m.stopping:
		m.stopWorker(w, p, stopAll)
		return
	case isClosed(p.Ending()):
		// It announced its end already: it takes no task, and its
		// exit follows.
		m.ending(w, p)
		return
	}
	m.setState(w, Idle, p)
	m.log.Debug("worker ready", "worker", w.name, "pid", p.Pid())
	m.idle = append(m.idle, w)
	if first {
		m.progress.ready()
		// Workers started together join the pool in the order of their
		// index, not of the race between their starts: a program that
		// waits for all of them sees the same order every time.
		for i := len(m.idle) - 1; i > 0 && m.idle[i-1].index > w.index && m.idle[i-1].task == nil; i-- {
			m.idle[i-1], m.idle[i] = m.idle[i], m.idle[i-1]
		}
	}
	if m.cfg.OnReady != nil {
		m.callback(func() { m.cfg.OnReady(w) })
	}
}

// ending moves w, whose process p is on its way out, to Stopping. If p
// announced its end itself (the manager is not stopping it), the exit is
// bounded all the same: p is stopped if it has not exited ShutdownTimeout
// later (a PostRun that hangs), so that no slot waits for ever.
func (m *Manager) ending(w *Worker, p *mp.Process) {
	m.setState(w, Stopping, p)
	if w.stopWhy != "" {
		return // stopWorker bounds it
	}
	time.AfterFunc(m.cfg.ShutdownTimeout, func() {
		m.send(event{kind: evFunc, fn: func() {
			if w.proc != p || w.stopWhy != "" || m.stopping {
				return // it exited, or is being stopped
			}
			why := fmt.Sprintf("it did not exit within %v of announcing its end", m.cfg.ShutdownTimeout)
			m.log.Warn(fmt.Sprintf("worker %q (pid %d): %s: stopping it", w.name, p.Pid(), why))
			m.stopWorker(w, p, why)
		}})
	})
}

// stopWorker stops w's process p in the background, for the reason why;
// its exit comes back to the loop like any other, and is no failure.
func (m *Manager) stopWorker(w *Worker, p *mp.Process, why string) {
	if w.stopWhy != "" {
		return
	}
	w.stopWhy = why
	w.failedFirst = p.EndReason() == mp.EndFatal
	m.setState(w, Stopping, p)
	// The stop of all workers has one deadline; a worker stopped during
	// the run has its own. Both end at once on a forced stop.
	ctx, cancel := m.stopCtx, context.CancelFunc(func() {})
	if ctx == nil {
		ctx, cancel = context.WithTimeout(m.killCtx, m.cfg.ShutdownTimeout)
	}
	m.wg.Add(1)
	go func() { defer m.wg.Done(); defer cancel(); p.Shutdown(ctx) }()
}

// exited handles the exit of w's process p: it fails the task p was
// running, says what happened, and replaces the worker as its restart type
// and the restart intensity allow.
func (m *Manager) exited(w *Worker, p *mp.Process) {
	m.live--
	asked, gaveUp := w.stopWhy, w.gaveUp
	w.stopWhy, w.gaveUp = "", ""
	if w.failedFirst || (asked == stopAll && crashed(p)) {
		// It had failed when the manager decided to stop it (a handler
		// panicked just before the stop began), or failed during the
		// manager's stop (a handler that panics on the stop's
		// SIGTERM): a crash, not a stop.
		asked, w.failedFirst = "", false
	}
	m.removeIdle(w)
	m.setState(w, Exited, nil)
	reason := p.EndReason()
	if reason == mp.EndTerminated && m.runCtx.Err() != nil {
		// Terminated from outside while the manager's own stop is on its
		// way (systemctl stop signals every process of the service):
		// begin that stop first, so the exit is seen as part of it.
		m.stop(nil)
	}
	clean := p.ProcessState().Success()
	if r := w.task; r != nil && r.proc == p && !r.returned && asked == "" && clean && reason == mp.EndSelf {
		// The backend ended itself after its handler returned: the reply
		// is on its way to Do. The exit is reported once Do has returned
		// (taskDone), so that the task's end comes first, whatever the
		// goroutines' timing; or after ShutdownTimeout, for a Do that
		// does not return.
		r.selfExit, r.afterDo = true, func() { m.afterExit(w, p, "", "", "") }
		time.AfterFunc(m.cfg.ShutdownTimeout, func() {
			m.send(event{kind: evFunc, fn: func() {
				if f := r.afterDo; f != nil {
					r.afterDo = nil
					f()
				}
			}})
		})
		return
	}
	taskName := ""
	if r := w.task; r != nil && r.proc == p {
		taskName = r.task.Name
		m.failed(r, exitError(r, p, asked))
	}
	m.afterExit(w, p, asked, taskName, gaveUp)
}

// exitError is the error of task r, whose worker's process p ended while
// it ran; asked is why the manager stopped p ("" if it did not).
func exitError(r *running, p *mp.Process, asked string) *TaskError {
	exit := p.DescribeExit()
	reason := p.EndReason()
	var cause error
	switch {
	case r.timedOut && asked == "" && reason == mp.EndSelf:
		cause = fmt.Errorf("%w after %v; its worker had ended itself (%s)", ErrTaskTimeout, r.task.Timeout, exit)
	case r.timedOut:
		cause = fmt.Errorf("%w after %v; its worker was stopped (%s)", ErrTaskTimeout, r.task.Timeout, exit)
	case asked != "":
		cause = fmt.Errorf("%w while the task ran: %s (%s)", mp.ErrStopped, asked, exit)
	case p.Err() != nil:
		cause = workerDied(endReason(p), exit, p.Err())
	default:
		cause = fmt.Errorf("%w: %s (%s)", ErrWorkerDied, reason, exit)
	}
	return &TaskError{Task: r.task.Name, Worker: r.w.name, Pid: p.Pid(), Exit: exit, Err: cause}
}

// afterExit says what a worker's exit was and replaces the worker as its
// restart type and the restart intensity allow. asked is why the manager
// stopped it ("" if it did not); taskName the task it was running, gaveUp
// the task whose given-up call it was finishing (see settle).
func (m *Manager) afterExit(w *Worker, p *mp.Process, asked, taskName, gaveUp string) {
	exit := p.DescribeExit()
	reason := endReason(p)
	if m.stopping {
		m.failedDuringStop(w, p, asked, taskName, gaveUp)
		return
	}
	if asked != "" {
		// Stopped by the manager (a task timeout): no failure.
		if w.policy == Temporary {
			m.log.Info(fmt.Sprintf("worker %q (pid %d) stopped: %s; not restarted (a temporary worker)", w.name, p.Pid(), asked))
			return
		}
		m.log.Info(fmt.Sprintf("worker %q (pid %d) stopped: %s; replacing it", w.name, p.Pid(), asked))
		m.start(w)
		return
	}
	report := &ExitReport{Worker: w.name, Pid: p.Pid(), Exit: exit, Reason: reason, Err: p.Err(), Task: taskName, policy: w.policy, gaveUp: gaveUp}
	clean := p.ProcessState().Success()
	report.Failure = !(clean && (reason == mp.EndSelf || reason == mp.EndTerminated))
	report.Restart = w.policy == Permanent || (w.policy == Transient && report.Failure)
	if time.Since(w.upSince) > m.cfg.Period {
		w.consecutive = 0
	}
	idle := reason == mp.EndSelf && w.tasks == 0 // not recycling: it took no task
	var ok = true
	switch {
	case report.Restart && report.Failure:
		report.Delay, ok = m.failure(w, errors.New(report.what()))
	case report.Restart && idle:
		// Replaced at once, a worker that ends itself as it starts
		// would be started again and again, as fast as it can:
		// a backoff, as after a failure, but no failure.
		report.Delay = m.backoff(w)
	case report.Restart && !report.Failure && reason == mp.EndTerminated:
		// Someone outside stopped it: not a failure, but wait a moment
		// before saying so and replacing it, in case the whole service
		// is stopping (systemctl stop signals every process of it, and a
		// worker's exit may come before the manager's own signal): a stop
		// meanwhile cancels both (restartNow, cancelRestarts).
		w.pending = report
		m.restartIn(w, m.cfg.Backoff)
		return
	}
	if !ok {
		m.log.Error(report.what()) // and Run's error says the rest
		return
	}
	switch {
	case report.Failure:
		m.log.Error(report.String())
	case reason == mp.EndTerminated:
		m.log.Warn(report.String())
	case idle:
		m.log.Warn(report.String() + " (it ended itself before taking any task)")
	default:
		m.log.Info(report.String())
	}
	if m.cfg.OnExit != nil {
		m.callback(func() { m.cfg.OnExit(w, report) })
	}
	if report.Restart {
		m.restartIn(w, report.Delay)
	}
}

// failedDuringStop reports the exit of w's process p during the manager's
// stop if p failed on its own (a crash, not the stop): it is not
// restarted, but the log and OnExit say so.
func (m *Manager) failedDuringStop(w *Worker, p *mp.Process, asked, taskName, gaveUp string) {
	clean := p.ProcessState().Success()
	reason := endReason(p)
	if asked != "" || (clean && (reason == mp.EndSelf || reason == mp.EndTerminated)) {
		return
	}
	report := &ExitReport{Worker: w.name, Pid: p.Pid(), Exit: p.DescribeExit(), Reason: reason, Err: p.Err(),
		Task: taskName, Failure: true, policy: w.policy, stopping: true, gaveUp: gaveUp}
	m.log.Error(report.String())
	if m.cfg.OnExit != nil {
		m.callback(func() { m.cfg.OnExit(w, report) })
	}
}

func (m *Manager) removeIdle(w *Worker) {
	for i, x := range m.idle {
		if x == w {
			m.idle = append(m.idle[:i], m.idle[i+1:]...)
			return
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// crashed reports whether the backend of p, which has exited, reported a
// fatal error (a handler panicked), whatever came first: the manager's
// request to stop, a SIGTERM, Backend.Stop.
func crashed(p *mp.Process) bool {
	var re *mp.RemoteError
	return errors.As(p.Err(), &re)
}

// endReason is why p, which has exited, ended, as the manager reports it:
// mp.EndFatal if its backend reported a fatal error, even after it was
// asked to stop (p.EndReason keeps the first reason known: EndRequested).
func endReason(p *mp.Process) mp.EndReason {
	if crashed(p) {
		return mp.EndFatal
	}
	return p.EndReason()
}
