package manager

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	// ErrWorkerDied is wrapped by the error of a task whose worker exited
	// while running it.
	ErrWorkerDied = errors.New("manager: worker died")
	// ErrTaskTimeout is wrapped by the error of a task that ran past its
	// Timeout; its worker was stopped and replaced.
	ErrTaskTimeout = errors.New("manager: task timed out")
	// ErrRestartIntensity is wrapped by Run's error when workers restarted
	// more than Config.MaxRestarts times within Config.Period.
	ErrRestartIntensity = errors.New("manager: restart intensity reached")
	// ErrStopped is the error of tasks still queued when the manager stops.
	ErrStopped = errors.New("manager: stopped")
	// ErrConfig is wrapped by New's error for an invalid Config.
	ErrConfig = errors.New("manager: invalid configuration")
)

// TaskError is the error of a task that failed because of its worker: the
// worker died while running it, or the task timed out and the worker was
// stopped. It says which task, which worker (name and PID) and how the
// worker's process ended ("signal: killed", "exit status 2").
type TaskError struct {
	Task   string // Task.Name
	Worker string // the worker's name
	Pid    int    // the worker's process ID when it ran the task
	Exit   string // how the process ended, from its ProcessState
	Err    error  // wraps ErrWorkerDied or ErrTaskTimeout, and the cause
}

// Error says what happened, e.g. `task "fill-7" on worker "worker-3" (pid
// 4242): manager: worker died: signal: killed`.
func (e *TaskError) Error() string {
	return fmt.Sprintf("task %q on worker %q (pid %d): %v (%s)", e.Task, e.Worker, e.Pid, e.Err, e.Exit)
}

// Unwrap returns the cause, which wraps ErrWorkerDied or ErrTaskTimeout.
func (e *TaskError) Unwrap() error { return e.Err }
