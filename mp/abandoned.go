package mp

import (
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
}

// answered forgets the abandoned calls up to id, whose reply has come: the
// backend handles calls in the order of their ids (see call), so it is done
// with those before it (or skipped them). With c.mu held.
func (c *frontConn) answered(id uint64) {
	if len(c.abandoned) > 0 {
		c.abandoned = slices.DeleteFunc(c.abandoned, func(a abandonedCall) bool { return a.id <= id })
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
