package mp

import (
	"errors"
	"fmt"
	"io"
)

// read reads the message pipe whenever no Call reads it (msgpipe.go),
// routing replies to their calls, messages to Messages and what the
// backend reports about itself to the owner. It never blocks on anything
// but the pipe, so a reply is never held up. When the pipe ends, the
// backend has exited: the owner reaps it.
func (c *frontConn) read() {
	defer func() {
		finish := c.inbox.close()
		c.owner.reap()
		if finish {
			c.finishDelivery()
		}
	}()
	m := c.pipe
	defer m.close() // with the token, kept: no caller reads a closed descriptor
	for drained := false; ; drained = true {
		if err := m.await(drained); err != nil {
			return
		}
		var err error
		for err == nil {
			err = c.routeOne(m.nextToDrain) // drain the pipe
		}
		if m.broken.Load() {
			m.discard() // until the killed backend's pipe ends
			return
		}
		if !errors.Is(err, errNoData) {
			return // the pipe's end
		}
		m.tok.Store(false)
	}
}

// routeOne reads a frame with next (msgPipe.next or nextWhole) and routes
// it. It returns next's errNoData or errNotWhole as they are (nothing was
// read), and any other failure (the pipe's end, bad data, a frame that
// has no business on the pipe) once readFailed has handled it.
func (c *frontConn) routeOne(next func() (frame, error)) error {
	fr, err := next()
	switch {
	case errors.Is(err, errNoData), errors.Is(err, errNotWhole):
		return err
	case err == nil && c.route(fr):
		return nil
	}
	c.readFailed(err)
	if err == nil {
		err = ErrBadFrame
	}
	return err
}

// readFailed handles what a read of the message pipe ended with (err, or
// nil for a frame of a kind that has no business there): the pipe's end,
// or bad data, for which the backend is killed.
func (c *frontConn) readFailed(err error) {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The pipe ended inside a frame: the backend died (killed,
		// typically) while it wrote. That is a death, which the owner
		// reports with the exit status, not bad data.
		c.log.Debug("message pipe ended inside a frame", "err", err)
	case errors.Is(err, io.EOF):
	case err == nil:
		// route has killed the backend.
		c.pipe.broken.Store(true)
	default:
		// The stream is lost: nothing after this can be trusted.
		c.pipe.broken.Store(true)
		c.log.Error(fmt.Sprintf("bad data from backend, killing it: %v", err))
		c.owner.badData(fmt.Errorf("bad data from %q: %w: %w", c.name, ErrBackendDied, err))
	}
}

// route delivers one frame read from the message pipe. It reports false
// for a frame of a kind that has no business there, after killing the
// backend. Only the holder of the pipe's token calls it, so frames are
// routed in the order they came.
func (c *frontConn) route(fr frame) bool {
	switch fr.kind {
	case kindMessage:
		m := Message{Command: fr.command, Params: fr.params}
		// The short way, when nothing waits before this message and
		// the channel has room: straight into Messages, no hand-off.
		if c.queued.Load() == 0 {
			select {
			case c.msgs <- m:
				c.delivered()
				return true
			default:
			}
		}
		c.queued.Add(1)
		if c.inbox.push(m) {
			go c.deliver()
		}
	case kindReply:
		c.mu.Lock()
		ch := c.pending[fr.id]
		delete(c.pending, fr.id)
		c.answered(fr.id)
		c.mu.Unlock()
		if ch == nil {
			c.log.Debug("reply after its call gave up", "command", fr.command, "id", fr.id)
			return true
		}
		ch <- callResult{fr: fr}
	default:
		if c.owner.control(fr) {
			return true
		}
		c.log.Error(fmt.Sprintf("unexpected frame kind %d from backend, killing it", fr.kind))
		c.owner.badData(fmt.Errorf("bad data from %q: frame kind %d: %w: %w", c.name, fr.kind, ErrBackendDied, ErrBadFrame))
		return false
	}
	return true
}
