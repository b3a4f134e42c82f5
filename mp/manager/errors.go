package manager

import (
	"errors"
	"fmt"

	"github.com/mpgo/mp/mp"
)

// Sentinel errors, for errors.Is. The package's errors say "manager:" once,
// at the start; the sentinels' own text has no prefix. A task still queued
// when the manager stops, a task whose worker the manager stopped while it
// ran, and Submit and Watch once the manager is stopping fail with an error
// wrapping mp.ErrStopped.
var (
	// ErrWorkerDied is wrapped by the error of a task whose worker exited
	// while running it.
	ErrWorkerDied = errors.New("worker died")
	// ErrTaskTimeout is wrapped by the error of a task that ran past its
	// Timeout; its worker was stopped and replaced.
	ErrTaskTimeout = errors.New("task timed out")
	// ErrRestartIntensity is wrapped by Run's error when workers restarted
	// more than Config.MaxRestarts times within Config.Period.
	ErrRestartIntensity = errors.New("restart intensity reached")
	// ErrStartTimeout is the cause of the ctx of a start that took longer
	// than Config.StartTimeout.
	ErrStartTimeout = errors.New("start timed out")
	// ErrNoWorkers is wrapped by the error of a task that no worker will
	// take: every worker has exited and none will be started again
	// (transient workers that ended themselves, temporary ones), while the
	// manager still runs; and by Submit's from then on.
	ErrNoWorkers = errors.New("no worker left")
	// ErrConfig is wrapped by New's error for an invalid Config, and by
	// Submit's for a Task without Do.
	ErrConfig = errors.New("invalid configuration")
	// ErrTaskPanic is wrapped by the error of a task whose Do panicked: a
	// *PanicError.
	ErrTaskPanic = errors.New("task panicked")
)

// TaskError is the error of a task that ended because its worker's process
// did: the worker died while running it (Err wraps ErrWorkerDied), the task
// ran past its Timeout and the manager stopped the worker (ErrTaskTimeout),
// or the manager stopped while it ran (mp.ErrStopped). It says which task,
// which worker (name and PID) and how the process ended.
type TaskError struct {
	Task   string // Task.Name
	Worker string // the worker's name
	Pid    int    // the worker's process ID when it ran the task
	Exit   string // how the process ended, from mp.Process.DescribeExit
	Err    error  // wraps ErrWorkerDied, ErrTaskTimeout or mp.ErrStopped, and the cause
}

// Error says what happened, e.g. `manager: task "fill-7" on worker
// "worker-3" (pid 4242): worker died: died (signal: killed)`.
func (e *TaskError) Error() string {
	return fmt.Sprintf("manager: task %q on worker %q (pid %d): %v", e.Task, e.Worker, e.Pid, e.Err)
}

// Unwrap returns Err.
func (e *TaskError) Unwrap() error { return e.Err }

// workerDied is the cause of a task whose worker died: ErrWorkerDied, why
// and how the process ended (exit), and the process's error procErr, which
// it wraps too (errors.Is(err, mp.ErrBackendDied) holds). procErr's text is
// said only when the backend reported something of its own (an
// *mp.RemoteError: a panic, a fatal error); otherwise it would only repeat
// the exit ("mp: worker-2: run: signal: killed: backend died").
func workerDied(why mp.EndReason, exit string, procErr error) error {
	text := fmt.Sprintf("%v: %s (%s)", ErrWorkerDied, why, exit)
	var re *mp.RemoteError
	if errors.As(procErr, &re) {
		text += ": " + procErr.Error()
	}
	return &diedError{text: text, err: procErr}
}

// diedError is workerDied's error: its text, wrapping ErrWorkerDied and
// the process's error.
type diedError struct {
	text string
	err  error
}

func (e *diedError) Error() string   { return e.text }
func (e *diedError) Unwrap() []error { return []error{ErrWorkerDied, e.err} }

// PanicError is the error of a task whose Do panicked (or called
// runtime.Goexit: Value is then "runtime.Goexit called"). The manager
// recovers the panic (see Task.Do) and logs it; the task ends with this
// error, whatever else happened to it, and the worker is not stopped for
// it. It wraps ErrTaskPanic, and the value if that is an error.
type PanicError struct {
	Task   string // Task.Name
	Worker string // the worker's name
	Pid    int    // the worker's process ID
	Value  any    // the value Do panicked with
	Site   string // where Do panicked: "function (file.go:line)"
	Stack  []byte // the stack of Do's goroutine when it panicked (runtime/debug.Stack)
}

// Error says which task panicked, with what and where, on one line, e.g.
// `manager: task "fill-7" on worker "worker-3" (pid 4242): task panicked
// in Do: runtime error: index out of range [3] with length 3, at
// main.fill (main.go:42)`. The stack is in Stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("manager: task %q on worker %q (pid %d): %v in Do: %v, at %s", e.Task, e.Worker, e.Pid, ErrTaskPanic, e.Value, e.Site)
}

// Unwrap returns ErrTaskPanic, and the panic's value if it is an error.
func (e *PanicError) Unwrap() []error {
	if err, ok := e.Value.(error); ok {
		return []error{ErrTaskPanic, err}
	}
	return []error{ErrTaskPanic}
}
