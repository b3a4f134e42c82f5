package manager

import (
	"fmt"
	"sync"
	"time"

	"github.com/mpgo/mp/mp"
)

// State is where a worker is in its life. Only the manager's loop changes
// it; Worker.State reads it from any goroutine.
type State uint8

const (
	// Starting: its process is being started (at first, or to replace
	// one that exited).
	Starting State = iota
	// Idle: its process is alive and waits for a task.
	Idle
	// Busy: its process runs a task, or a call its last task gave up
	// on (see Task.Do).
	Busy
	// Stopping: its process is on its way out: the manager stops it, or it
	// announced its own end. It takes no task.
	Stopping
	// Exited: it has no process; a restart may be pending (after a
	// backoff), or none will come.
	Exited
	nStates
)

var stateNames = [...]string{"starting", "idle", "busy", "stopping", "exited"}

// String returns the state's name: "starting", "idle", …
func (s State) String() string {
	if s < nStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Worker is one worker slot of the manager: a name and an index that stay
// while its process is replaced. Its methods are safe to call from any
// goroutine; State and Process may change as soon as they return, except
// on the manager's loop, where they hold until the callback returns.
type Worker struct {
	index  int
	name   string
	policy Restart

	mu    sync.Mutex // guards state and proc: the loop writes, anyone reads
	state State
	proc  *mp.Process // nil when Exited or Starting

	// Loop state.
	task        *running    // the task it runs, or whose end waits for its exit
	stopWhy     string      // why the manager stops its process; "" if it does not
	failedFirst bool        // its process had failed (EndFatal) when the manager stopped it
	started     bool        // it has been started once
	since       time.Time   // when it entered its state
	upSince     time.Time   // when its process became ready
	consecutive int         // failures (and ends before any task) since it last stayed up for a Period
	tasks       int         // tasks handed to its current process
	gaveUp      string      // the task whose given-up call its process still runs (settle), if any
	restart     *time.Timer // the backoff before its restart
	pending     *ExitReport // an exit reported when the backoff ends (afterExit)
}

// Name returns the worker's name, e.g. "worker-3".
func (w *Worker) Name() string { return w.name }

// Index returns the worker's position, from 0 to Config.Workers-1.
func (w *Worker) Index() int { return w.index }

// Restart returns the worker's restart type.
func (w *Worker) Restart() Restart { return w.policy }

// State returns the worker's state.
func (w *Worker) State() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

// Process returns the worker's current process, or nil while it has none
// (starting, or exited). A task's Do receives the process it must use.
func (w *Worker) Process() *mp.Process {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.proc
}

// setState moves w to state s, on the loop, keeping the manager's counts.
func (m *Manager) setState(w *Worker, s State, p *mp.Process) {
	w.mu.Lock()
	old := w.state
	w.state, w.proc = s, p
	w.mu.Unlock()
	w.since = time.Now()
	m.counts[old].Add(-1)
	m.counts[s].Add(1)
	if old != s {
		m.log.Debug("worker state", "worker", w.name, "from", old, "to", s) // formatted only if logged
	}
}

// ExitReport says how a worker's process ended when the manager did not
// stop it: it died, it ended itself (Backend.Stop), or something outside the
// manager terminated it. OnExit receives it.
type ExitReport struct {
	Worker string       // the worker's name
	Pid    int          // the process ID of the process that ended
	Exit   string       // how the process ended, from mp.Process.DescribeExit
	Reason mp.EndReason // what the process said (EndFatal if it reported a fatal error, even once asked to stop), or mp.EndDied
	Err    error        // the process's error (Process.Err), nil for a clean exit
	Task   string       // the task it was running, "" if idle
	// Failure reports whether the exit counts as a failure: a crash, a
	// kill, or an exit without saying why. These count against the
	// restart intensity and restart after a backoff.
	Failure bool
	// Restart reports whether the worker will be started again, and
	// Delay after how long.
	Restart bool
	Delay   time.Duration

	policy   Restart
	stopping bool   // the manager was stopping: no restart
	gaveUp   string // the task whose given-up call the process was still running (see Task.Do), if any
}

// String reads as the manager's log line, e.g. `worker "worker-3" (pid
// 4242) died: signal: killed, running task "fill-7"; restarting it in
// 100ms`. A worker with no task says what it was doing: "while idle", or
// `finishing a call that task "fill-7" gave up on` (see Task.Do).
func (e *ExitReport) String() string {
	s := e.what()
	switch {
	case e.Restart && e.Delay > 0:
		s += fmt.Sprintf("; restarting it in %v", e.Delay)
	case e.Restart:
		s += "; replacing it"
	default:
		s += "; not restarted (" + e.noRestartWhy() + ")"
	}
	return s
}

// what says what happened, without what happens next.
func (e *ExitReport) what() string {
	var s string
	switch {
	case e.Failure:
		s = fmt.Sprintf("worker %q (pid %d) died: %s", e.Worker, e.Pid, e.Exit)
	default:
		s = fmt.Sprintf("worker %q (pid %d) %s: %s", e.Worker, e.Pid, e.Reason, e.Exit)
	}
	switch {
	case e.Task != "":
		s += fmt.Sprintf(", running task %q", e.Task)
	case e.gaveUp != "":
		s += fmt.Sprintf(", finishing a call that task %q gave up on", e.gaveUp)
	case e.Failure:
		s += ", while idle"
	}
	return s
}

func (e *ExitReport) noRestartWhy() string {
	if e.stopping {
		return "the manager stops"
	}
	if e.policy == Temporary {
		return "a temporary worker"
	}
	return "a transient worker that did not fail"
}
