package mp

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// A call whose caller gave up goes on in the backend until its handler
// returns (a handler that ignores its ctx runs to its end), and the backend
// handles calls one at a time: the calls after it wait. A Call whose ctx
// ends then says so, where the bare ctx error left its caller to guess why
// a quick command took too long.

// abandonedCall is a call whose caller gave up, not yet answered.
type abandonedCall struct {
	id      uint64
	command string
	at      time.Time
}

// maxAbandoned bounds the calls remembered: the oldest is the one that
// matters, and a backend that never answers again is gone soon or never.
const maxAbandoned = 64

// abandon records that the caller of call id (command) gave up.
func (c *frontConn) abandon(id uint64, command string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.abandoned) < maxAbandoned {
		c.abandoned = append(c.abandoned, abandonedCall{id, command, time.Now()})
	}
	c.unanswered = max(c.unanswered, id)
}

// answered forgets the abandoned calls up to id, whose reply has come: the
// backend handles calls in the order of their ids (see call), so it is done
// with those before it (it answers a call it skipped too). With c.mu held.
func (c *frontConn) answered(id uint64) {
	if c.unanswered == 0 {
		return
	}
	c.abandoned = slices.DeleteFunc(c.abandoned, func(a abandonedCall) bool { return a.id <= id })
	if id >= c.unanswered {
		c.unanswered = 0
		if c.settled != nil {
			close(c.settled)
			c.settled = nil
		}
	}
}

// abandonedDone returns a channel closed once no abandoned call is left
// unanswered, or nil if none is now.
func (c *frontConn) abandonedDone() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unanswered == 0 {
		return nil
	}
	if c.settled == nil {
		c.settled = make(chan struct{})
	}
	return c.settled
}

// WaitAbandoned waits until no call whose caller gave up still runs in the
// backend: a Call whose ctx ended before its reply cancels the handler's
// ctx (or, if it has not started, the call is skipped), but a handler that
// ignores its ctx runs on, and the process handles nothing else meanwhile.
// WaitAbandoned returns nil once every such call has been answered or
// skipped, or the process has exited, and at once if there is none. It
// returns ctx's cause if ctx ends first; with a ctx that has ended, it
// tells without waiting whether such a call is still running. A pool that
// hands the process to its next user waits for it first (mp/manager does,
// after each task).
func (p *Process) WaitAbandoned(ctx context.Context) error {
	ch := p.conn.abandonedDone()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	select { // both ready: the answer, or the exit, wins
	case <-ch:
		return nil
	case <-p.done:
		return nil
	default:
		return context.Cause(ctx)
	}
}

// behindAbandoned returns err, the error of call id whose ctx ended, saying
// that an earlier call, given up and not yet answered, may still hold the
// backend, if one is.
func (c *frontConn) behindAbandoned(id uint64, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.abandoned {
		if a.id < id {
			return fmt.Errorf("%w (the backend, which handles calls one at a time, has not answered call %q, given up %v ago: its handler may still run)",
				err, a.command, time.Since(a.at).Round(time.Millisecond))
		}
	}
	return err
}
