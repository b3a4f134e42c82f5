package mp

import (
	"errors"
	"fmt"
)

// Sentinel errors for the conditions callers branch on. Every error the
// package returns wraps one of these (or an error from the operating system),
// so errors.Is works on it. The package's errors say "mp:" once, at the
// start: the sentinels' own text has no prefix.
var (
	// ErrStopped is returned by Send and Call once Close or CloseSend has
	// been called on the process; package manager wraps it too, in the
	// errors of tasks and calls that its stop ended.
	ErrStopped = errors.New("stopped")
	// ErrBackendDied is returned when the backend exited (or was killed)
	// while the frontend was sending, calling or waiting.
	ErrBackendDied = errors.New("backend died")
	// ErrFrameTooLarge is returned when a frame's length prefix is beyond
	// MaxFrameSize, on either side of the pipe.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrBadFrame is returned when the bytes on a pipe are not a valid frame.
	ErrBadFrame = errors.New("malformed frame")
	// ErrUnknownCommand is returned by Call when the backend has no handler
	// for the command.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrHandlerPanic is wrapped by the error reported when a backend
	// handler panicked; the backend exits after reporting it.
	ErrHandlerPanic = errors.New("backend handler panicked")
	// ErrHandler is wrapped by the error a Call returns when the backend
	// handler returned an error.
	ErrHandler = errors.New("backend handler failed")
	// ErrParam is returned by the typed Params getters when a parameter is
	// missing or has another type, and by Send when a value cannot be encoded.
	ErrParam = errors.New("bad parameter")
	// ErrNoInit is returned by Start when the backend exited because the
	// program's main (or a test binary's TestMain) does not call Init
	// first. It is not ErrBackendDied: the backend never became one.
	ErrNoInit = errors.New("the program's main does not call mp.Init first")
	// ErrBadProcessName is returned by Start for a process name that
	// cannot name a process (see Options.Name).
	ErrBadProcessName = errors.New("bad process name")
	// ErrUnknownKind is returned when a backend kind was never registered.
	ErrUnknownKind = errors.New("unknown backend kind")
	// ErrNoFreeEvent is returned by Process.NewEvent when every slot of
	// Options.Events holds an open event.
	ErrNoFreeEvent = errors.New("no free event slot")
	// ErrEventIndex is returned by Backend.Event for an ID that names no
	// event of the process.
	ErrEventIndex = errors.New("no such event")
	// ErrQueueFull is returned by Backend.Send in a pre-run hook when the
	// frontend holds as many unread messages as flow control allows: it
	// cannot read any before Start returns, so Send does not wait.
	ErrQueueFull = errors.New("too many messages unread")
	// ErrLateReply is returned by Backend.Reply for a second reply to a
	// call, or one after its handler returned: the caller already has its
	// answer, so nothing is sent.
	ErrLateReply = errors.New("reply after the call was answered")
)

// RemoteError is an error that happened in the backend and was reported to
// the frontend: a handler that returned an error or panicked, an unknown
// command, or a fatal error of the backend loop. It unwraps to
// ErrHandler, ErrHandlerPanic, ErrUnknownCommand, ErrBadFrame,
// ErrFrameTooLarge or (for CodeFatal) ErrBackendDied, depending on Code;
// and also to Sentinel, the package's sentinel that the backend's error
// wrapped, if any (a reply too large to send wraps ErrFrameTooLarge).
type RemoteError struct {
	Process  string    // process name, e.g. "my-process"
	Command  string    // command being handled, "" for loop errors
	Code     ErrorCode // what kind of failure
	Msg      string    // the backend's error text
	Sentinel error     // the package's sentinel the backend's error wrapped, or nil
}

// ErrorCode says what kind of failure a RemoteError reports.
type ErrorCode uint8

// The error codes a backend reports.
const (
	CodeHandler        ErrorCode = iota + 1 // handler returned an error
	CodePanic                               // handler panicked
	CodeUnknownCommand                      // no handler for the command
	CodeBadFrame                            // backend received a malformed frame
	CodeFrameTooLarge                       // backend received an oversize frame
	CodeFatal                               // any other fatal backend error
)

// Error says which process failed, in which command, and how:
// "mp: <process>: handler "<command>": <text>".
func (e *RemoteError) Error() string { return "mp: " + e.Process + ": " + e.detail() }

// detail is the error's text after "mp: <process>: ".
func (e *RemoteError) detail() string {
	switch e.Code {
	case CodePanic:
		return fmt.Sprintf("handler %q panicked: %s", e.Command, e.Msg)
	case CodeUnknownCommand:
		return fmt.Sprintf("unknown command %q", e.Command)
	case CodeHandler:
		return fmt.Sprintf("handler %q: %s", e.Command, e.Msg)
	default:
		return e.Msg
	}
}

// Unwrap returns the sentinel error that matches the code, and Sentinel
// if it is set.
func (e *RemoteError) Unwrap() []error {
	if e.Sentinel != nil {
		return []error{e.codeError(), e.Sentinel}
	}
	return []error{e.codeError()}
}

func (e *RemoteError) codeError() error {
	switch e.Code {
	case CodeHandler:
		return ErrHandler
	case CodePanic:
		return ErrHandlerPanic
	case CodeUnknownCommand:
		return ErrUnknownCommand
	case CodeBadFrame:
		return ErrBadFrame
	case CodeFrameTooLarge:
		return ErrFrameTooLarge
	}
	return ErrBackendDied
}

// Error is the error of an operation on a process: what was done, to which
// process, and why it failed, in the manner of os.PathError. Errors of
// package mp that are not a *RemoteError are an *Error or wrap one; use
// errors.Is with the package's sentinels for the cause, and errors.As for the
// fields.
type Error struct {
	Op      string // what failed, e.g. "start", `call "ping"`, "wait on event 3"
	Process string // the process name, "" if there is none
	Err     error  // the cause
}

// Error returns "mp: <process>: <op>: <cause>". A cause that is itself an
// error of the same process adds its op and cause, without a second "mp:".
func (e *Error) Error() string {
	if e.Process == "" {
		return "mp: " + e.detail()
	}
	return "mp: " + e.Process + ": " + e.detail()
}

// detail is the error's text after "mp: <process>: ".
func (e *Error) detail() string { return e.Op + ": " + causeText(e.Err, e.Process) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// opError returns the error of op on process, caused by err.
func opError(op, process string, err error) error {
	return &Error{Op: op, Process: process, Err: err}
}

// causeText is err's text as the cause of an error of process: an error of
// the same process (or of none) gives its detail only.
func causeText(err error, process string) string {
	switch c := err.(type) {
	case *Error:
		if c.Process == process || c.Process == "" {
			return c.detail()
		}
	case *RemoteError:
		if c.Process == process {
			return c.detail()
		}
	case *diedError:
		return c.text(process)
	}
	return err.Error()
}

// diedError is ErrBackendDied with why the backend exited.
type diedError struct{ exit error }

func (e *diedError) Error() string   { return e.text("") }
func (e *diedError) Unwrap() []error { return []error{ErrBackendDied, e.exit} }
func (e *diedError) text(p string) string {
	return ErrBackendDied.Error() + ": " + causeText(e.exit, p)
}
