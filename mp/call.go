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
// a message that cannot be sent, and with ctx's error if ctx ends while the
// pipe is full. A message is sent whole or not at all: if ctx ends half way
// through a large one, Send returns ctx's error and the rest follows in the
// background, so the stream stays whole and the backend healthy (it will
// handle the message, unless the process is stopped before the rest is
// out: the backend then sees its command pipe end inside a frame, and
// stops as asked).
func (p *Process) Send(ctx context.Context, command string, params Params) error {
	if err := p.send(ctx, &frame{kind: kindSend, command: command, params: params}, nil); err != nil {
		return opError(fmt.Sprintf("send %q", command), p.name, err)
	}
	return nil
}

// send writes fr to the command pipe; number, if not nil, is called on fr
// with the pipe's turn taken (see frameWriter.writeNumbered).
func (p *Process) send(ctx context.Context, fr *frame, number func(*frame)) error {
	if err := p.usable(); err != nil {
		return err
	}
	if err := p.in.writeNumbered(ctx, fr, number); err != nil {
		if errors.Is(err, syscall.EPIPE) || p.state.Load() == stateExited {
			err = p.deathError()
		}
		return err
	}
	return nil
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

// deathError says why the backend is gone, once that is known: ErrStopped
// if the frontend asked it to stop and it did, and otherwise an error
// wrapping ErrBackendDied that says how it ended (a backend that exits on
// its own, even with status 0, died as far as a waiting caller is concerned).
func (p *Process) deathError() error {
	select {
	case <-p.done:
	case <-time.After(time.Second): // exit not yet reaped; do not wait for it
		return ErrBackendDied
	}
	switch {
	case p.exitErr == nil && p.stopRequested():
		return ErrStopped
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

// Call sends a command and waits for the backend's reply: the message the
// handler passed to Backend.Reply, or an empty message once a handler that
// did not reply returns. Calls from several goroutines may be in flight at
// once; each gets its own reply.
//
// Call returns an error wrapping ErrHandler if the handler returned an
// error, ErrUnknownCommand if there is no handler, ErrHandlerPanic or
// ErrBackendDied if the backend died before replying, ErrStopped after Close,
// and ctx's error if ctx ends first. A Call whose ctx ends tells the
// backend: the handler's ctx is cancelled (or, if it has not started, the
// call is skipped) and its reply is dropped.
func (p *Process) Call(ctx context.Context, command string, params Params) (Message, error) {
	ch := make(chan callResult, 1)
	fr := &frame{kind: kindCall, command: command, params: params}
	// The id is taken with the command pipe's turn, so that calls reach
	// the backend in the order of their ids: its cancellations rely on it
	// (Backend.cancel).
	number := func(fr *frame) {
		fr.id = p.nextID.Add(1)
		p.mu.Lock()
		p.pending[fr.id] = ch
		p.mu.Unlock()
	}
	if err := p.send(ctx, fr, number); err != nil {
		if fr.id == 0 {
			return Message{}, opError(fmt.Sprintf("call %q", command), p.name, err) // never numbered, never sent
		}
		p.forget(fr.id)
		if errors.Is(err, errRestFollows) {
			// ctx ended half way through the frame: the backend will get
			// the call whole, so it must also hear that we gave up.
			p.cancelCall(fr.id)
		}
		return Message{}, opError(fmt.Sprintf("call %q", command), p.name, err)
	}
	id := fr.id
	res, ok := p.readReply(ctx, ch)
	if !ok {
		res, ok = p.awaitReply(ctx, id, ch)
	}
	if !ok {
		return Message{}, opError(fmt.Sprintf("call %q", command), p.name, res.err)
	}
	if res.err != nil {
		return Message{}, opError(fmt.Sprintf("call %q", command), p.name, res.err)
	}
	reply := res.fr
	if reply.code != 0 {
		return Message{}, &RemoteError{Process: p.name, Command: command, Code: reply.code, Msg: reply.errText, Sentinel: sentinelOf(reply.params)}
	}
	return Message{Command: reply.command, Params: reply.params}, nil
}

// readReply reads the message pipe itself for the reply that comes on ch,
// if no other goroutine reads it (see msgpipe.go), routing what comes
// before the reply. It polls the pipe while polling pays (spin.go) and
// reports whether it got the reply; if not, the reader goroutine reads on.
func (p *Process) readReply(ctx context.Context, ch chan callResult) (res callResult, got bool) {
	m := p.pipe
	if !m.take() {
		return res, false
	}
	partial := false
	try := func() bool {
		for {
			select {
			case res = <-ch:
				got = true
				return true
			default:
			}
			switch err := p.routeOne(m.nextWhole); {
			case errors.Is(err, errNotWhole):
				partial = true
				return ctx.Err() != nil
			case errors.Is(err, errNoData):
				return ctx.Err() != nil
			case err != nil:
				return true // the reader goroutine accounts for the exit
			case ctx.Err() != nil:
				return true // even if frames keep coming
			}
		}
	}
	if !try() && !m.src.spin.poll(try) {
		// Wait in the kernel, on this thread, unless a frame too large
		// to come whole is on its way: the reader goroutine reads that.
		waitSoon(ctx, m.src.fd, try, func() bool { return partial })
	}
	// Frames read into the buffer (with the reply, or before the ctx
	// ended) are routed now: the token goes back with nothing buffered but
	// the start of a frame yet to come, so that the reader goroutine,
	// which looks only at the pipe, misses nothing.
	for m.buffered() && p.routeOne(m.nextWhole) == nil {
	}
	// Calls waiting for the reader goroutine (this one, if it gives up,
	// or others) need it awake.
	m.letGo(p.callsWaiting)
	return res, got
}

// callsWaiting reports whether calls wait for their replies. A Call
// registers before it tries to take the pipe's token, so a caller that
// asks after letting the token go either sees it or leaves it the token.
func (p *Process) callsWaiting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending) > 0
}

// awaitReply waits for the reader goroutine to route the reply of call id
// to ch. If none comes it reports false, with the error to return in res.
func (p *Process) awaitReply(ctx context.Context, id uint64, ch chan callResult) (res callResult, ok bool) {
	select {
	case res = <-ch:
	case <-ctx.Done():
		p.forget(id)
		// Tell the backend: its handler's ctx is cancelled, or the call
		// skipped if it has not started. The reply, if any, is dropped.
		p.cancelCall(id)
		return callResult{err: context.Cause(ctx)}, false
	case <-p.done:
		select {
		case res = <-ch:
		default:
			p.forget(id)
			return callResult{err: p.deathError()}, false
		}
	}
	return res, true
}

// cancelCall tells the backend that the caller of call id gave up. It
// writes before Call returns, so that a Close that follows cannot close the
// cancel pipe first (a goroutine writing it used to lose that race, and the
// handler ran on until SIGTERM). The backend reads that pipe at once, so
// the write is quick; it is bounded all the same, for a backend that no
// longer reads anything.
func (p *Process) cancelCall(id uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p.cancels.write(ctx, &frame{kind: kindCancel, id: id})
}

// callResult is what a waiting Call receives: the reply frame, or why none
// will come.
type callResult struct {
	fr  frame
	err error
}

func (p *Process) forget(id uint64) {
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
}
