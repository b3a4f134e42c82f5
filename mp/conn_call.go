package mp

import (
	"context"
	"errors"
	"time"
)

// send writes fr to the command pipe; number, if not nil, gives fr its id
// with the pipe's turn taken (see frameWriter.writeNumbered). A ctx that
// has already ended sends nothing: its cause is returned (context.Cause,
// as for a ctx that ends while the call waits, and in Recv and
// Event.Wait), as database/sql's and net/http's calls return its error.
func (c *frontConn) send(ctx context.Context, fr *frame, number func() uint64) error {
	if err := c.owner.usable(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err := c.in.writeNumbered(ctx, fr, number); err != nil {
		return c.owner.sendError(err)
	}
	return nil
}

// call sends fr, a call, and waits for its reply frame. Calls from
// several goroutines may be in flight at once; each gets its own reply. A
// call whose ctx ends tells the backend on the cancel pipe.
func (c *frontConn) call(ctx context.Context, fr *frame) (frame, error) {
	ch := make(chan callResult, 1)
	// The id is taken with the command pipe's turn, so that calls reach
	// the backend in the order of their ids: its cancellations rely on it
	// (Backend.cancel).
	number := func() uint64 {
		id := c.nextID.Add(1)
		c.mu.Lock()
		c.pending[id] = ch
		c.mu.Unlock()
		return id
	}
	if err := c.send(ctx, fr, number); err != nil {
		if fr.id == 0 {
			return frame{}, err // never numbered, never sent
		}
		c.forget(fr.id)
		if errors.Is(err, errRestFollows) {
			// ctx ended half way through the frame: the backend will get
			// the call whole, so it must also hear that we gave up.
			c.abandon(fr.id, fr.command)
			c.cancelCall(fr.id)
		}
		return frame{}, err
	}
	id := fr.id
	res, ok := c.readReply(ctx, ch)
	if !ok {
		res, ok = c.awaitReply(ctx, id, fr.command, ch)
	}
	if !ok || res.err != nil {
		return frame{}, res.err
	}
	return res.fr, nil
}

// readReply reads the message pipe itself for the reply that comes on ch,
// if no other goroutine reads it (see readUntil), and reports whether it
// got the reply; if not, the reader goroutine reads on.
func (c *frontConn) readReply(ctx context.Context, ch chan callResult) (res callResult, got bool) {
	got = c.readUntil(ctx, func() bool {
		select {
		case res = <-ch:
			return true
		default:
			return false
		}
	}, nil)
	return res, got
}

// readUntil reads the message pipe on the calling goroutine, if no other
// goroutine reads it (see msgpipe.go), routing what comes, until ready
// reports true: a Call's reply, or a message for Recv, has been routed to
// the caller's channel (ready may also find one routed before the token
// was taken). It polls the pipe while polling pays (spin.go), then waits in
// poll(2) on this thread for blockFor at most, and reports whether ready
// did; if not, the caller waits for the reader goroutine. leave, if not
// nil, says that what the caller waits for will come another way (a
// receiver's messages queued for the deliverer): readUntil then lets the
// token go at its next look, and before it waits in poll(2).
func (c *frontConn) readUntil(ctx context.Context, ready, leave func() bool) (got bool) {
	m := c.pipe
	if !m.take() {
		return false
	}
	if leave == nil {
		leave = func() bool { return false }
	}
	m.disarm()            // what comes is for us, not for the reader goroutine
	m.src.emptied = false // until a read of ours says so (see letGo)
	partial := false
	done := func() bool {
		got = got || ready()
		return got
	}
	try := func() bool {
		for {
			if done() {
				return true
			}
			switch err := c.routeOne(m.nextWhole); {
			case errors.Is(err, errNotWhole):
				partial = true
				return ctx.Err() != nil || leave()
			case errors.Is(err, errNoData):
				return ctx.Err() != nil || leave()
			case err != nil:
				return true // the reader goroutine accounts for the exit
			case ctx.Err() != nil:
				return true // even if frames keep coming
			}
		}
	}
	// Frames in the buffer are routed without a system call; beyond
	// those, a first read is for polling only: poll(2) returns at once if
	// the pipe holds data, and the read would be one system call more on
	// the round trip's path.
	if !done() && !((m.buffered() || m.src.spin.polls()) && (try() || m.src.spin.poll(try))) {
		// Wait in the kernel, on this thread, unless a frame too large
		// to come whole is on its way: the reader goroutine reads that.
		waitSoon(ctx, m.src.fd, try, func() bool { return partial || leave() })
	}
	// Frames read into the buffer (with what we waited for, or before the
	// ctx ended) are routed now: the token goes back with nothing buffered
	// but the start of a frame yet to come, so that the reader goroutine,
	// which looks only at the pipe, misses nothing.
	for m.buffered() && c.routeOne(m.nextWhole) == nil {
	}
	// Calls and receivers waiting for the reader goroutine (this one, if
	// it gives up, or others) need it awake.
	m.letGo(c.waiting)
	return got
}

// waiting reports whether calls wait for their replies or goroutines wait
// in Recv. Both register before they try to take the pipe's token, so a
// holder that asks after letting the token go either sees them or leaves
// them the token.
func (c *frontConn) waiting() bool {
	return c.receivers.Load() > 0 || c.callsWaiting()
}

// callsWaiting reports whether calls wait for their replies. A Call
// registers before it tries to take the pipe's token, so a caller that
// asks after letting the token go either sees it or leaves it the token.
func (c *frontConn) callsWaiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) > 0
}

// awaitReply waits for the reader goroutine to route the reply of call id
// (of command) to ch. If none comes it reports false, with the error to
// return in res. A reply routed as ctx ends is the call's answer.
func (c *frontConn) awaitReply(ctx context.Context, id uint64, command string, ch chan callResult) (res callResult, ok bool) {
	select {
	case res = <-ch:
	case <-ctx.Done():
		if !c.forget(id) {
			// The reply was routed as ctx ended (route takes the
			// call's entry, then sends): it is the answer.
			res = <-ch
			break
		}
		// Tell the backend: its handler's ctx is cancelled, or the call
		// skipped if it has not started. The reply, if any, is dropped.
		err := c.behindAbandoned(id, context.Cause(ctx))
		c.abandon(id, command)
		c.cancelCall(id)
		return callResult{err: err}, false
	case <-c.done:
		select {
		case res = <-ch:
		default:
			c.forget(id)
			return callResult{err: c.owner.deathError()}, false
		}
	}
	return res, true
}

// cancelCall tells the backend that the caller of call id gave up. It
// writes before Call returns, so that a Close that follows cannot close the
// cancel pipe first (the handler would then run on until SIGTERM). The
// backend reads that pipe at once, so the write is quick; it is bounded
// all the same, for a backend that no longer reads anything.
func (c *frontConn) cancelCall(id uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.cancels.write(ctx, &frame{kind: kindCancel, id: id})
}

// callResult is what a waiting Call receives: the reply frame, or why none
// will come.
type callResult struct {
	fr  frame
	err error
}

// forget takes call id's entry out of the calls waiting for their reply,
// and reports whether it was there: false once its reply (or failure) has
// been routed to it.
func (c *frontConn) forget(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pending[id]
	delete(c.pending, id)
	return ok
}

// failCalls fails the calls waiting for a reply with err.
func (c *frontConn) failCalls(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ch := range c.pending {
		ch <- callResult{err: err}
		delete(c.pending, id)
	}
}
