package cluster

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	// ErrHandler is wrapped by the error of a task whose handler returned
	// an error (mp.ErrHandler on the worker's side). The task ran and is
	// not retried.
	ErrHandler = errors.New("cluster: handler failed")
	// ErrFailed is wrapped by the error of a task that was given up after
	// Config.MaxDeliver attempts (its worker died on each, or was lost).
	ErrFailed = errors.New("cluster: task failed after its last delivery")
	// ErrBadRequest is wrapped by the error of a task whose request the
	// worker could not decode as the command's request type: a field it
	// does not know, a field of another type, or bytes that are no request.
	ErrBadRequest = errors.New("cluster: request does not decode")
	// ErrBadReply is wrapped by the error of a task whose reply does not
	// decode as the command's reply type.
	ErrBadReply = errors.New("cluster: reply does not decode")
	// ErrTooLarge is wrapped by Submit's error for a request larger than
	// the server's maximum payload; nothing was queued.
	ErrTooLarge = errors.New("cluster: request too large")
	// ErrConnect is wrapped by Connect's error when no server could be
	// reached or the server refused the connection.
	ErrConnect = errors.New("cluster: cannot connect")
	// ErrConfig is wrapped by the error of an invalid Config or name.
	ErrConfig = errors.New("cluster: invalid configuration")
)

// TaskError is the error of a task that reached a worker and did not
// succeed. It unwraps to ErrHandler, ErrFailed or ErrBadRequest.
type TaskError struct {
	Task       string // the task's ID
	Command    string // the command's name
	Deliveries int    // how many times the task was delivered to a worker
	Msg        string // what the worker said
	Err        error  // ErrHandler, ErrFailed or ErrBadRequest
}

// Error says which task failed, how, and how many deliveries it took, e.g.
// `cluster: task "square" 8Qx…: cluster: task failed after its last
// delivery (3 deliveries): worker died`.
func (e *TaskError) Error() string {
	return fmt.Sprintf("cluster: task %q %s: %v (%d deliveries): %s", e.Command, e.Task, e.Err, e.Deliveries, e.Msg)
}

// Unwrap returns Err.
func (e *TaskError) Unwrap() error { return e.Err }

// status is what a result says about its task, in the result's header.
const (
	statusOK         = "ok"
	statusHandler    = "handler"
	statusFailed     = "failed"
	statusBadRequest = "bad-request"
)

func statusError(status string) error {
	switch status {
	case statusHandler:
		return ErrHandler
	case statusBadRequest:
		return ErrBadRequest
	default:
		return ErrFailed
	}
}
