package mp

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Options configure a process at Start.
type Options struct {
	// Name names the process in logs, in ps (argv[0] is "mp:<program>/<Name>")
	// and in errors. It must be non-empty, at most 64 bytes of printable
	// UTF-8, without '/' or spaces.
	Name string
	// Params are handed to the backend before its pre-run hook (Backend.Params).
	// Start checks that they can be sent before it starts any process: a
	// value of a type the codec refuses fails with ErrParam, and Params too
	// large for one frame with ErrFrameTooLarge.
	Params Params
	// Events is how many events (Process.NewEvent) the process may have
	// open at once; zero means none. A negative value or more than 65,536
	// is an error (wrapping os.ErrInvalid).
	Events int
	// Files are extra files the backend receives (Backend.File), e.g. the
	// memfd of an anonymous shared array or a listener. They stay usable in
	// the frontend: deadlines and Close keep working on them (os/exec would
	// otherwise switch them to blocking mode for good; Start passes
	// duplicates and restores the mode they share).
	Files []*os.File
	// StopTimeout bounds each rung of the stop ladder (Process.Close: the
	// command pipe closed, then SIGTERM, then SIGKILL, each StopTimeout
	// after the one before); zero means 3 seconds, and a negative value is
	// an error (wrapping os.ErrInvalid).
	// A backend that gets SIGTERM (from the ladder, or as the parent-death
	// signal when its frontend dies) exits at the latest StopTimeout + 1 s
	// later, even if a handler ignores its context (and after at most
	// 0.1 s more to write the messages it sent, if the frontend does not
	// read them).
	StopTimeout time.Duration
	// Stdout and Stderr receive the backend's standard output and error;
	// nil means the frontend's own os.Stdout and os.Stderr, shared as they
	// are, so that lines of both processes come out in the order written.
	Stdout, Stderr io.Writer
	// Logger receives what the library logs about this process in the
	// frontend (state changes at debug level, warnings of the stop ladder,
	// dropped messages); nil means a logger whose lines start with
	// "<kind>.<Name> [front]", written to os.Stdout at the level MP_LOG_LEVEL
	// sets. The backend logs in its own process, to its standard output
	// (Stdout).
	Logger *slog.Logger
	// Env is added to the backend's environment (after the frontend's own,
	// so it wins), as "KEY=value" strings: GOMAXPROCS=1 or GOMEMLIMIT=64MiB
	// for small workers, say. Variables of the package's own (MP_BACKEND…)
	// cannot be set this way.
	Env []string
	// MessageBuffer is the capacity of the Messages channel; the backend
	// may send four times as many messages beyond it before its Send blocks
	// (replies to calls are never held back). Zero means 256; a negative
	// value or more than 65,536 is an error (wrapping os.ErrInvalid). Read
	// Messages.
	MessageBuffer int
}

// checkOptions rejects options that cannot mean anything, with an error
// wrapping os.ErrInvalid that names the field, and Params that cannot be
// sent (checkParams).
func checkOptions(opts Options) error {
	switch {
	case opts.MessageBuffer > maxMessageBuffer:
		// The channel is allocated whole: a huge one is a fatal
		// out-of-memory error, which no caller could recover from.
		return fmt.Errorf("Options.MessageBuffer %d is more than %d: %w", opts.MessageBuffer, maxMessageBuffer, os.ErrInvalid)
	case opts.MessageBuffer < 0:
		return fmt.Errorf("Options.MessageBuffer %d is negative: %w", opts.MessageBuffer, os.ErrInvalid)
	case opts.StopTimeout < 0:
		return fmt.Errorf("Options.StopTimeout %v is negative: %w", opts.StopTimeout, os.ErrInvalid)
	case opts.Events < 0:
		return fmt.Errorf("Options.Events %d is negative: %w", opts.Events, os.ErrInvalid)
	case opts.Events > maxEvents:
		return fmt.Errorf("Options.Events %d is more than %d: %w", opts.Events, maxEvents, os.ErrInvalid)
	}
	return checkParams(opts.Params)
}

// checkParams encodes the start parameters as they will be sent, to refuse
// ones that cannot be before a process is started only to be killed.
func checkParams(params Params) error {
	if _, err := appendFrame(nil, &frame{kind: kindInit, params: params}); err != nil {
		return fmt.Errorf("start parameters: %w", err)
	}
	return nil
}
