package manager

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mpgo/mp/mp"
)

// Task is a unit of work for one worker.
type Task struct {
	// Name names the task in logs and errors, e.g. "fill-7".
	Name string
	// Timeout bounds the task, from the moment a worker takes it; zero
	// means no bound. Past it, the worker is stopped (Process.Shutdown)
	// and replaced, and the task fails with a *TaskError wrapping
	// ErrTaskTimeout.
	Timeout time.Duration
	// Do runs the task on worker w, whose process is p, on a goroutine of
	// its own: typically a typed command's Call on p. ctx ends when the
	// task times out or the manager stops.
	Do func(ctx context.Context, w *Worker, p *mp.Process) error
	// Done, if not nil, runs on the loop when the task has ended: err is
	// Do's error, or a *TaskError if the worker died or the task timed
	// out, or ErrStopped if the manager stopped before a worker took it
	// (w is nil then). Done runs after Do has returned, so it sees what
	// Do wrote; Do must therefore return when ctx ends. When Done runs, w is back in the idle pool if it
	// is still running; Done may Submit the next task.
	Done func(w *Worker, err error)
}

// running is a task handed to a worker.
type running struct {
	task     Task
	w        *Worker
	cancel   context.CancelFunc
	timer    *time.Timer
	timedOut bool  // past its Timeout: its worker is being stopped
	returned bool  // Do has returned
	failure  error // set when its worker exited while it ran
	finished bool  // Done has run (or is about to)
}

// Submit queues t; the loop gives it to the next idle worker. It may be
// called from any goroutine, callbacks on the loop included. Once the
// manager is stopping, Submit queues nothing and returns an error wrapping
// ErrStopped (t.Done is not called); tasks still queued when the stop
// begins end with ErrStopped through their Done.
func (m *Manager) Submit(t Task) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("task %q: %w", t.Name, ErrStopped)
	}
	m.queue = append(m.queue, &running{task: t})
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return nil
}

// Queued returns the number of tasks waiting for a worker.
func (m *Manager) Queued() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.queue)
}

// dispatch hands queued tasks to idle workers.
func (m *Manager) dispatch() {
	if m.stopping {
		m.failQueued()
		return
	}
	for len(m.idle) > 0 {
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

// run starts task r on worker w.
func (m *Manager) run(w *Worker, r *running) {
	r.w, w.task = w, r
	m.doing++
	ctx, cancel := context.WithCancel(m.startCtx)
	r.cancel = cancel
	if r.task.Timeout > 0 {
		r.timer = time.AfterFunc(r.task.Timeout, func() { m.send(event{kind: evTimeout, task: r}) })
	}
	p := w.proc
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		err := r.task.Do(ctx, w, p)
		m.send(event{kind: evTaskDone, task: r, err: err})
	}()
}

// taskDone handles the return of a task's Do.
func (m *Manager) taskDone(r *running, err error) {
	m.doing--
	r.returned = true
	w := r.w
	switch {
	case err == nil:
		// Done, even if the worker died just after: the work is done.
	case r.failure != nil:
		err = r.failure // its worker's exit came first
	case r.timedOut, w.stopping, w.proc == nil, isDone(w.proc), dying(err):
		// Do failed because its worker is dying: its exit, which comes
		// next, fails the task with how the worker ended (and the worker
		// does not go back to the pool meanwhile).
		return
	}
	alive := w.task == r && w.proc != nil && !w.stopping && !isDone(w.proc)
	m.complete(r, err)
	if alive {
		m.idle = append(m.idle, w)
	}
	if r.task.Done != nil {
		r.task.Done(w, err)
	}
}

// failed fails r because its worker exited; Done runs once Do has
// returned too (at once if it has), so that Done sees what Do did.
func (m *Manager) failed(r *running, err *TaskError) {
	r.failure = err
	r.cancel()
	if r.w.task == r {
		r.w.task = nil
	}
	if !r.returned {
		return
	}
	m.complete(r, err)
	if r.task.Done != nil {
		r.task.Done(r.w, err)
	}
}

// complete marks r ended and logs its failure if its worker caused it.
func (m *Manager) complete(r *running, err error) {
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
}

// dying reports whether err says that the worker's process is on its way
// out: its handler panicked, or mp found it dead or broken. Its exit event
// follows.
func dying(err error) bool {
	return errors.Is(err, mp.ErrHandlerPanic) || errors.Is(err, mp.ErrBackendDied)
}

// timeout handles a task past its Timeout: its worker is stopped, and the
// task fails when the exit is seen (with how the worker ended).
func (m *Manager) timeout(r *running) {
	if r.finished || r.timedOut || r.failure != nil {
		return
	}
	r.timedOut = true
	r.cancel()
	w := r.w
	m.log.Warn(fmt.Sprintf("task %q on %q (pid %d) ran past its timeout of %v: stopping the worker",
		r.task.Name, w.name, w.proc.Pid(), r.task.Timeout))
	m.shutdown(w)
	m.terminate(w)
}

// failQueued fails the tasks no worker will take.
func (m *Manager) failQueued() {
	m.mu.Lock()
	q := m.queue
	m.queue = nil
	m.mu.Unlock()
	for _, r := range q {
		if r.task.Done != nil {
			r.task.Done(nil, fmt.Errorf("task %q: %w", r.task.Name, ErrStopped))
		}
	}
}

func isDone(p *mp.Process) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM to w's process, which cancels the context of the
// handler it runs. The stop ladder's first rung (closing the command pipe)
// waits for the running handler, which is pointless when that handler is
// what we stop: this skips it.
func (m *Manager) terminate(w *Worker) {
	if w.proc != nil {
		w.proc.Signal(syscall.SIGTERM) // fails only if it has exited: fine
	}
}
