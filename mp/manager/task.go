package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mpgo/mp/mp"
)

// Task is a unit of work for one worker.
type Task struct {
	// Name names the task in logs and errors, e.g. "fill-7".
	Name string
	// Timeout bounds the task, from the moment a worker takes it; zero
	// means no bound. Past it, the worker is stopped (Process.Shutdown,
	// with SIGTERM at once) and replaced, and the task fails with a
	// *TaskError wrapping ErrTaskTimeout once the worker has exited: at
	// once for a handler that returns when its ctx ends, the worker's
	// mp.Options.StopTimeout later (SIGKILL) for one that ignores it.
	Timeout time.Duration
	// Do runs the task on worker w, whose process is p, on a goroutine of
	// its own: typically a typed command's Call on p. ctx ends when the
	// task times out or the manager stops; Do must return then. Do may
	// also give up a call through a deadline of its own: its handler's
	// ctx is cancelled, and the worker takes no other task until the
	// backend has answered that call (Process.WaitAbandoned). A handler
	// that ignores its ctx and does not return within ShutdownTimeout of
	// Do's return has its worker stopped and replaced, without failing
	// the task, whose result is Do's. A panic in Do is recovered, as
	// net/http recovers a handler's: the manager logs it, and the task
	// ends with a *PanicError (wrapping ErrTaskPanic) that carries the
	// value and the stack; the worker goes back to the pool. So does a
	// Do that calls runtime.Goexit (t.FailNow in a test's Do): its
	// PanicError's Value is "runtime.Goexit called".
	Do func(ctx context.Context, w *Worker, p *mp.Process) error
	// Done, if not nil, runs on the loop once the task has ended, after
	// Do has returned (so it sees what Do wrote). err is nil when Do
	// succeeded, even if the worker exits just after; a *TaskError when
	// the worker's process ended while the task ran (it wraps
	// ErrWorkerDied, ErrTaskTimeout or mp.ErrStopped), except that a
	// worker that ends itself (Backend.Stop) answers first, so Do's result
	// stands unless one of its calls got no answer (mp.ErrBackendDied);
	// Do's own error otherwise; and, with w nil, an error wrapping
	// mp.ErrStopped for a task still queued when the manager stopped, or
	// ErrNoWorkers for one that no worker will take (every worker has
	// exited, and none will be started again); a *PanicError if Do
	// panicked, whatever else happened. Done may Submit the next task. If
	// Do does not return within ShutdownTimeout of the manager's stop (or
	// Config.Force is closed), Run returns without it, and Done never runs.
	// Done runs on the loop, as the callbacks of Config do, and a panic in
	// it is not recovered: it ends the program (see Config's callbacks).
	Done func(w *Worker, err error)
}

// running is a task handed to a worker.
type running struct {
	task     Task
	w        *Worker
	proc     *mp.Process // the process it runs on
	cancel   context.CancelFunc
	timer    *time.Timer
	timedOut bool   // past its Timeout: its worker is being stopped
	returned bool   // Do has returned
	failure  error  // set when its worker's process ended while it ran
	panicked error  // Do's *PanicError, kept for the exit that ends the task (see taskDone)
	finished bool   // Done has run (or is about to)
	afterDo  func() // the exit of its worker, reported once Do returned (see exited)
	selfExit bool   // its worker ended itself, and the exit was seen before Do returned
}

// Submit queues t; the loop gives it to the next idle worker. It may be
// called from any goroutine, callbacks on the loop included. Once the
// manager is stopping, Submit queues nothing and returns an error wrapping
// mp.ErrStopped (t.Done is not called); once no worker is left and none
// will be started again, one wrapping ErrNoWorkers; and a task without Do
// is refused with one wrapping ErrConfig. Tasks still queued when the stop
// begins end with mp.ErrStopped through their Done, and those queued when
// the last worker is gone for good with ErrNoWorkers.
func (m *Manager) Submit(t Task) error {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return fmt.Errorf("manager: submit %q: %w", t.Name, mp.ErrStopped)
	case m.noWork:
		m.mu.Unlock()
		return fmt.Errorf("manager: submit %q: %w", t.Name, ErrNoWorkers)
	case t.Do == nil:
		m.mu.Unlock()
		return fmt.Errorf("manager: submit %q: %w: no Do function", t.Name, ErrConfig)
	}
	m.queue = append(m.queue, &running{task: t})
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return nil
}

// Queued returns the number of tasks waiting for a worker. It is safe to
// call from any goroutine.
func (m *Manager) Queued() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.queue)
}

// dispatch hands queued tasks to idle workers: only a worker whose process
// is alive and idle takes one.
func (m *Manager) dispatch() {
	if m.stopping {
		m.failQueued(mp.ErrStopped)
		return
	}
	if m.live == 0 && m.starting == 0 && !m.exitPending() {
		m.noWorkers()
		return
	}
	for len(m.idle) > 0 {
		if w := m.idle[0]; isClosed(w.proc.Ending()) {
			// It announced its end while idle (Backend.Stop from a
			// goroutine of its own): it takes no task, and its exit
			// follows.
			m.idle = m.idle[1:]
			m.ending(w, w.proc)
			continue
		}
		m.mu.Lock()
		if len(m.queue) == 0 {
			m.mu.Unlock()
			return
		}
		r := m.queue[0]
		m.queue = m.queue[1:]
		m.mu.Unlock()
		w := m.idle[0]
		m.idle = m.idle[1:]
		m.run(w, r)
	}
}

// run starts task r on the idle worker w.
func (m *Manager) run(w *Worker, r *running) {
	p := w.proc
	r.w, r.proc, w.task = w, p, r
	w.tasks++
	m.setState(w, Busy, p)
	m.doing[r] = struct{}{}
	ctx, cancel := context.WithCancel(m.workCtx)
	r.cancel = cancel
	if r.task.Timeout > 0 {
		r.timer = time.AfterFunc(r.task.Timeout, func() { m.send(event{kind: evTimeout, task: r}) })
	}
	// Not in m.wg: Run does not wait for ever for a Do that ignores its
	// ctx (see Task.Done).
	go m.do(ctx, r, w, p) // sends evTaskDone
}

// taskDone handles the return of a task's Do. Whether the worker goes back
// to the pool is decided by its process (Process.Ending), never by the
// wording of Do's error.
func (m *Manager) taskDone(r *running, err error) {
	delete(m.doing, r)
	r.returned = true
	var pe *PanicError
	panicked := errors.As(err, &pe) // Do's panic stands, whatever else happened
	if r.selfExit {
		// Its worker ended itself, and its exit has been seen (see
		// exited): the task ends with Do's result, unless a call of Do
		// never got its answer or Do failed past its Timeout; then the
		// exit is reported, unless it was already (Do took longer than
		// ShutdownTimeout).
		if err != nil && !panicked && (r.timedOut || errors.Is(err, mp.ErrBackendDied)) {
			err = exitError(r, r.proc, "")
		}
		m.finish(r, err)
		if f := r.afterDo; f != nil {
			r.afterDo = nil
			f()
		}
		return
	}
	if r.failure != nil { // its worker's exit came first
		if err != nil && !panicked {
			err = r.failure
		}
		m.finish(r, err)
		return
	}
	w, p := r.w, r.proc
	ending := r.timedOut || w.stopWhy != "" || isClosed(p.Ending())
	self := !r.timedOut && w.stopWhy == "" && p.EndReason() == mp.EndSelf
	if err != nil && ending && !(self && !errors.Is(err, mp.ErrBackendDied)) {
		// Do failed because its worker is ending: the exit, which
		// follows, says how the task ended, and names it (a Do that
		// panicked on its call's error too: its panic is the task's
		// error, see failed). (A worker that ends itself, recycling,
		// answered first: the answer is the task's, unless a call
		// never got one.)
		if panicked {
			r.panicked = err
		}
		if w.proc == p && w.State() == Busy {
			m.ending(w, p)
		}
		return
	}
	m.finish(r, err)
	if w.proc != p || w.State() != Busy {
		return
	}
	if ending {
		m.ending(w, p) // done its last task; its exit follows
		return
	}
	m.settle(w, p, r.task.Name)
}

// failed fails r because its worker's process ended while it ran; Done
// runs once Do has returned too (at once if it has).
func (m *Manager) failed(r *running, err *TaskError) {
	r.failure = err
	r.cancel()
	if r.w.task == r {
		r.w.task = nil
	}
	if r.returned {
		if r.panicked != nil { // Do's panic stands (see taskDone)
			m.finish(r, r.panicked)
			return
		}
		m.finish(r, err)
	}
}

// finish ends r with err: its Done runs, once.
func (m *Manager) finish(r *running, err error) {
	if r.finished {
		return
	}
	r.finished = true
	r.cancel()
	if r.timer != nil {
		r.timer.Stop()
	}
	if r.w.task == r {
		r.w.task = nil
	}
	if r.task.Done != nil {
		r.task.Done(r.w, err)
	}
}

// timeout handles a task past its Timeout: its worker is stopped, and the
// task fails when the exit is seen.
func (m *Manager) timeout(r *running) {
	if r.finished || r.timedOut || r.failure != nil || r.returned {
		return
	}
	r.timedOut = true
	r.cancel()
	w := r.w
	why := fmt.Sprintf("task %q ran past its timeout of %v", r.task.Name, r.task.Timeout)
	if w.proc != r.proc {
		// Its worker has exited already (see exited): nothing to stop.
		m.log.Warn(fmt.Sprintf("%s; its worker %q (pid %d) had exited", why, w.name, r.proc.Pid()))
		return
	}
	m.log.Warn(fmt.Sprintf("%s on %q (pid %d): stopping the worker", why, w.name, r.proc.Pid()))
	m.stopWorker(w, r.proc, why)
	terminate(r.proc)
}

// failQueued fails the tasks no worker will take, with an error wrapping
// why, and says how many there were.
func (m *Manager) failQueued(why error) int {
	m.mu.Lock()
	q := m.queue
	m.queue = nil
	m.mu.Unlock()
	for _, r := range q {
		if r.task.Done != nil {
			r.task.Done(nil, fmt.Errorf("manager: task %q: %w", r.task.Name, why))
		}
	}
	return len(q)
}

// tasks says "1 task" or "n tasks", for the log.
func tasks(n int) string {
	if n == 1 {
		return "1 task"
	}
	return fmt.Sprintf("%d tasks", n)
}

// exitPending reports whether the report of a worker's exit, and so its
// restart, waits for a task's Do to return (see exited).
func (m *Manager) exitPending() bool {
	for r := range m.doing {
		if r.afterDo != nil {
			return true
		}
	}
	return false
}

// noWorkers fails the tasks queued when no worker is left and none will be
// started again: they would wait for ever. From then on Submit refuses
// tasks, so that a Done that submits again does not spin. It warns once.
func (m *Manager) noWorkers() {
	m.mu.Lock()
	first := !m.noWork
	m.noWork = true
	m.mu.Unlock()
	n := m.failQueued(ErrNoWorkers)
	if first {
		m.log.Warn(fmt.Sprintf("no worker left, and none will be started again: %s failed; Submit refuses new ones", tasks(n)))
	}
}

// waitingFor names the tasks whose Do has not returned.
func (m *Manager) waitingFor() string {
	var names []string
	for r := range m.doing {
		names = append(names, fmt.Sprintf("%q", r.task.Name))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// terminate sends SIGTERM to p, which cancels the context of the handler
// it runs. The stop ladder's first rung (closing the command pipe) waits
// for the running handler, which is pointless when that handler is what we
// stop: this skips it.
func terminate(p *mp.Process) {
	p.Signal(syscall.SIGTERM) // fails only if it has exited: fine
}
