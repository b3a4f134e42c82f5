package cluster

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is. The package's errors say "cluster:" once,
// at the start; the sentinels' own text has no prefix.
var (
	// ErrHandler is wrapped by the error of a task whose handler returned
	// an error (mp.ErrHandler on the worker's side). The task ran and is
	// not retried.
	ErrHandler = errors.New("handler failed")
	// ErrFailed is wrapped by the error of a task that was given up after
	// Config.MaxDeliver attempts (its worker died on each, or was lost).
	ErrFailed = errors.New("failed after its last delivery")
	// ErrBadRequest is wrapped by the error of a task whose request the
	// worker could not decode as the command's request type: a field it
	// does not know, a field of another type, or bytes that are no request.
	ErrBadRequest = errors.New("request does not decode")
	// ErrBadReply is wrapped by the error of a task whose reply does not
	// decode as the command's reply type.
	ErrBadReply = errors.New("reply does not decode")
	// ErrTooLarge is wrapped by Submit's error for a request larger than
	// the server's maximum payload; nothing was queued.
	ErrTooLarge = errors.New("request too large")
	// ErrReplyTooLarge is wrapped by the error of a task whose handler
	// returned a reply larger than the server's maximum payload. The task
	// ran and is not retried: it would return the same reply.
	ErrReplyTooLarge = errors.New("reply too large")
	// ErrConnect is wrapped by Connect's error when no server could be
	// reached or the server refused the connection.
	ErrConnect = errors.New("cannot connect")
	// ErrConfig is wrapped by the error of an invalid Config or name.
	ErrConfig = errors.New("invalid configuration")
	// ErrClosed is wrapped by the error of a Submit after Client.Close,
	// and of a Wait whose client was closed before its result came.
	ErrClosed = errors.New("client closed")
	// ErrLost is wrapped by the error of a Wait whose task the server
	// holds no more, nor its result: the task stream was deleted, purged
	// or made again (by an operator, or a server back without its
	// storage) before the task's result was stored, or the results
	// stream was made again after it was stored and before the client
	// took it. The client asks about the task stream every 2 s while a
	// task is pending, and notices a results stream made again when its
	// consumer goes (at once when the stream is deleted, after two
	// missed heartbeats, about 4 s, when the server came back). It then
	// looks each pending task up: one still in the task stream (queued or
	// running, whenever it was submitted) or whose result is in the
	// results stream goes on waiting; only the others end with ErrLost.
	// A task that a worker was running when its stream went may still
	// store its result, which the client then drops. A purge is noticed a
	// round (2 s) after the stream's first sequence passes the task, and a
	// purge of some subjects or sequences of the task stream only once the
	// tasks stored before the purged ones have left the stream. Submit
	// the task again if it must run, handlers being idempotent.
	ErrLost = errors.New("result lost by the server")
)

// TaskError is the error of a task that reached a worker and did not
// succeed. It unwraps to ErrHandler, ErrFailed, ErrBadRequest or
// ErrReplyTooLarge.
type TaskError struct {
	Task       string // the task's ID
	Command    string // the command's name
	Deliveries int    // how many times the task was delivered to a worker
	Msg        string // what the worker said
	Err        error  // ErrHandler, ErrFailed, ErrBadRequest or ErrReplyTooLarge
}

// Error says which task failed, how, after how many deliveries, and what
// the worker said, e.g. `cluster: task "square" 8Qx…: failed after its last
// delivery (3 deliveries): manager: … worker died: …`.
func (e *TaskError) Error() string {
	return fmt.Sprintf("cluster: task %q %s: %v (%s): %s", e.Command, e.Task, e.Err, deliveries(e.Deliveries), e.Msg)
}

// deliveries says n deliveries in English: "1 delivery", "3 deliveries".
func deliveries(n int) string {
	if n == 1 {
		return "1 delivery"
	}
	return fmt.Sprintf("%d deliveries", n)
}

// Unwrap returns Err.
func (e *TaskError) Unwrap() error { return e.Err }

// status is what a result says about its task, in the result's header.
const (
	statusOK         = "ok"
	statusHandler    = "handler"
	statusFailed     = "failed"
	statusBadRequest = "bad-request"
	statusTooLarge   = "reply-too-large"
)

func statusError(status string) error {
	switch status {
	case statusHandler:
		return ErrHandler
	case statusBadRequest:
		return ErrBadRequest
	case statusTooLarge:
		return ErrReplyTooLarge
	default:
		return ErrFailed
	}
}
