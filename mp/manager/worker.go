package manager

import (
	"fmt"
	"time"

	"github.com/mpgo/mp/mp"
)

// Worker is one worker slot of the manager: a name and an index that stay
// while its process is replaced. Its methods may be called from any
// goroutine, but what they return is only stable on the manager's loop.
type Worker struct {
	index  int
	name   string
	policy Restart

	// Loop state.
	proc        *mp.Process // nil while not running
	task        *running    // the task it runs, nil when idle
	stopping    bool        // the manager asked this process to stop
	started     bool        // it has been started once
	upSince     time.Time
	consecutive int         // restarts since it last stayed up for a Period
	restart     *time.Timer // the backoff before its restart
}

// Name returns the worker's name, e.g. "worker-3".
func (w *Worker) Name() string { return w.name }

// Index returns the worker's position, from 0 to Config.Workers-1.
func (w *Worker) Index() int { return w.index }

// Restart returns the worker's restart type.
func (w *Worker) Restart() Restart { return w.policy }

// Process returns the worker's current process, or nil while it is not
// running (starting, restarting, or stopped). Call it on the loop or in a
// task's Do, which receives the process it must use.
func (w *Worker) Process() *mp.Process { return w.proc }

// ExitReport says how a worker's process ended when nobody asked it to.
type ExitReport struct {
	Worker string // the worker's name
	Pid    int
	Exit   string // from the ProcessState: "signal: killed", "exit status 2"
	Err    error  // the process's error (Process.Err): why mp thinks it died
	Task   string // the task it was running, "" if idle
}

// String reads as the manager's log line, e.g. `worker "worker-3" (pid
// 4242) died: signal: killed, running task "fill-7"`.
func (e *ExitReport) String() string {
	s := fmt.Sprintf("worker %q (pid %d) died: %s", e.Worker, e.Pid, e.Exit)
	if e.Task != "" {
		s += fmt.Sprintf(", running task %q", e.Task)
	} else {
		s += ", while idle"
	}
	return s
}

// exitText says how p ended, from its ProcessState.
func exitText(p *mp.Process) string {
	if ps := p.ProcessState(); ps != nil {
		return ps.String()
	}
	return "exit status unknown"
}

// start queues the start of w's process. Starts run in the background, in
// the order they were queued (workers by index at first), at most
// StartConcurrency at a time; each result comes back to the loop as an
// evStarted event.
func (m *Manager) start(w *Worker) {
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
		ctx := m.startCtx
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			p, err := m.cfg.Start(ctx, w)
			if err == nil && p == nil {
				err = fmt.Errorf("manager: Start returned no process for %q", w.name)
			}
			m.send(event{kind: evStarted, w: w, proc: p, err: err})
		}()
	}
}

// watch forwards the messages of w's process p to the loop, then its exit.
// A message that arrives while others wait in the channel goes with them,
// in one event: the fan-in costs one channel operation per batch.
func (m *Manager) watch(w *Worker, p *mp.Process) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		in := p.Messages()
		for msg := range in {
			batch := []mp.Message{msg}
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
			m.send(event{kind: evMessages, w: w, proc: p, msgs: batch})
		}
		<-p.Done()
		m.send(event{kind: evExit, w: w, proc: p})
	}()
}

// started handles the end of a start.
func (m *Manager) started(w *Worker, p *mp.Process, err error) {
	m.starting--
	m.inflight--
	defer m.pumpStarts()
	if err != nil {
		if m.stopping {
			return // the start was cut short by the stop
		}
		if !w.started {
			m.stop(fmt.Errorf("manager: start %q: %w", w.name, err))
			return
		}
		m.log.Error(fmt.Sprintf("restart of %q failed: %v", w.name, err))
		m.restartLater(w, "its restart failed")
		return
	}
	first := !w.started
	w.proc, w.started, w.stopping, w.upSince = p, true, false, time.Now()
	m.live++
	m.watch(w, p)
	if m.stopping {
		m.shutdown(w)
		return
	}
	m.log.Debug(fmt.Sprintf("%q ready (pid %d)", w.name, p.Pid()))
	if first {
		m.progress.ready()
	}
	m.idle = append(m.idle, w)
	if first {
		// Workers started together join the pool in the order of their
		// index, not of the race between their starts: a program that
		// waits for all of them sees the same order every time.
		for i := len(m.idle) - 1; i > 0 && m.idle[i-1].index > w.index && m.idle[i-1].task == nil; i-- {
			m.idle[i-1], m.idle[i] = m.idle[i], m.idle[i-1]
		}
	}
	if m.cfg.OnReady != nil {
		m.cfg.OnReady(w)
	}
}

// exited handles the exit of w's process p.
func (m *Manager) exited(w *Worker, p *mp.Process) {
	m.live--
	asked := w.stopping
	w.proc, w.stopping = nil, false
	m.removeIdle(w)
	report := &ExitReport{Worker: w.name, Pid: p.Pid(), Exit: exitText(p), Err: p.Err()}
	if w.task != nil {
		report.Task = w.task.task.Name
	}
	if !asked && !m.stopping {
		m.log.Error(report.String())
		if m.cfg.OnExit != nil {
			m.cfg.OnExit(w, report)
		}
	}
	if r := w.task; r != nil {
		cause := fmt.Errorf("%w: %s", ErrWorkerDied, report.Exit)
		switch perr := p.Err(); {
		case r.timedOut:
			cause = fmt.Errorf("%w after %v; worker stopped", ErrTaskTimeout, r.task.Timeout)
		case asked:
			cause = fmt.Errorf("%w while the task ran", ErrStopped)
		case perr != nil:
			cause = fmt.Errorf("%w: %w", ErrWorkerDied, perr)
		}
		m.failed(r, &TaskError{Task: r.task.Name, Worker: w.name, Pid: report.Pid, Exit: report.Exit, Err: cause})
	}
	if m.stopping {
		return
	}
	// Normal, in OTP's sense, is a worker that chose to end (Backend.Stop)
	// and exited with status 0; a signal or any other status is abnormal.
	abnormal := !p.ProcessState().Success()
	if asked {
		abnormal = true // stopped by the manager to be replaced
		m.log.Warn(fmt.Sprintf("worker %q (pid %d) stopped: %s; replacing it", w.name, report.Pid, report.Exit))
	}
	switch {
	case w.policy == Temporary:
		return
	case w.policy == Transient && !abnormal:
		return
	}
	if time.Since(w.upSince) > m.cfg.Period {
		w.consecutive = 0
	}
	m.restartLater(w, report.String())
}

func (m *Manager) removeIdle(w *Worker) {
	for i, x := range m.idle {
		if x == w {
			m.idle = append(m.idle[:i], m.idle[i+1:]...)
			return
		}
	}
}
