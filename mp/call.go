package mp

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Send sends a command to the backend without waiting for it to be handled.
// It fails with ErrStopped after CloseSend or Close, with an error wrapping
// ErrBackendDied if the backend is gone, with ErrParam or ErrFrameTooLarge for
// a message that cannot be sent, and with ctx's error if ctx has ended
// (nothing is sent then) or ends while the pipe is full. A message is sent whole or not at all: if ctx ends half way
// through a large one, Send returns ctx's error and the rest follows in the
// background, so the stream stays whole and the backend healthy (it will
// handle the message, unless the process is stopped before the rest is
// out: the backend then sees its command pipe end inside a frame, and
// stops as asked).
func (p *Process) Send(ctx context.Context, command string, params Params) error {
	if err := p.conn.send(ctx, &frame{kind: kindSend, command: command, params: params}, nil); err != nil {
		return opError(fmt.Sprintf("send %q", command), p.name, err)
	}
	return nil
}

// Call sends a command and waits for the backend's reply: the message the
// handler passed to Backend.Reply, or an empty message once a handler that
// did not reply returns. Calls from several goroutines may be in flight at
// once; each gets its own reply.
//
// Call returns an error wrapping ErrHandler if the handler returned an
// error, ErrUnknownCommand if there is no handler, ErrHandlerPanic or
// ErrBackendDied if the backend died before replying, ErrStopped after Close,
// and ctx's error if ctx ends first; if it has ended already, nothing is
// sent. A Call whose ctx ends while it waits tells the backend: the
// handler's ctx is cancelled (or, if it has not started, the call is
// skipped) and its reply is dropped. A handler that ignores its ctx runs on,
// and the calls behind it wait: a Call whose ctx ends then says, after
// ctx's error, which call given up earlier has not been answered yet.
func (p *Process) Call(ctx context.Context, command string, params Params) (Message, error) {
	reply, err := p.conn.call(ctx, &frame{kind: kindCall, command: command, params: params})
	if err != nil {
		return Message{}, opError(fmt.Sprintf("call %q", command), p.name, err)
	}
	if reply.code != 0 {
		return Message{}, &RemoteError{Process: p.name, Command: command, Code: reply.code, Msg: reply.errText, Sentinel: sentinelOf(reply.params)}
	}
	return Message{Command: reply.command, Params: reply.params}, nil
}

// usable returns nil while the process accepts commands.
func (p *Process) usable() error {
	switch p.state.Load() {
	case stateStopping:
		return ErrStopped
	case stateExited:
		return p.deathError()
	}
	return nil
}

// sendError is what a failed write of a command returns: why the backend
// is gone, if it is.
func (p *Process) sendError(err error) error {
	if errors.Is(err, syscall.EPIPE) || p.state.Load() == stateExited {
		return p.deathError()
	}
	return err
}

// deathError says why the backend is gone, once that is known: ErrStopped
// if the frontend asked it to stop and it did, and otherwise an error
// wrapping ErrBackendDied that says how it ended (a backend that exits on
// its own, or on a SIGTERM that Signal sent, even with status 0, died as far
// as a waiting caller is concerned).
func (p *Process) deathError() error {
	select {
	case <-p.done:
	case <-time.After(time.Second): // exit not yet reaped; do not wait for it
		return ErrBackendDied
	}
	p.mu.Lock()
	signalled := !p.termAt.IsZero()
	p.mu.Unlock()
	switch {
	case p.exitErr == nil && p.stopRequested():
		return ErrStopped
	case p.exitErr == nil && signalled:
		return fmt.Errorf("%w: it exited after the SIGTERM that Signal sent (%v)", ErrBackendDied, p.cmd.ProcessState)
	case p.exitErr == nil:
		return fmt.Errorf("%w: it exited on its own (%v)", ErrBackendDied, p.cmd.ProcessState)
	case errors.Is(p.exitErr, ErrBackendDied):
		return p.exitErr
	}
	return &diedError{p.exitErr}
}

// stopRequested reports whether CloseSend, Close or Shutdown was called.
func (p *Process) stopRequested() bool {
	select {
	case <-p.stopping:
		return true
	default:
		return false
	}
}
