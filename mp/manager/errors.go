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
