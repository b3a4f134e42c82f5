package mp

import "fmt"

// deliver moves messages from the inbox to Messages, waiting for room
// unless the process is being stopped, in which case an unread message is
// dropped (the first with a warning, the rest counted in one). Every
// message delivered or dropped earns the backend a credit back (see
// credits.go). What an exited backend sent waits for a reader, or for Close.
// It runs while messages wait (see inbox); the last run closes Messages once
// the exit is accounted for.
func (c *frontConn) deliver() {
	for {
		m, ok, finish := c.inbox.next()
		if !ok {
			if finish {
				c.finishDelivery()
			}
			return
		}
		select {
		case c.msgs <- m:
		default:
			select {
			case c.msgs <- m:
			case <-c.stopping:
				if c.drops++; c.drops == 1 {
					c.dropped(m)
				}
			}
		}
		c.queued.Add(-1) // after the send: the reader's short way keeps the order
		c.delivered()
	}
}

// finishDelivery closes Messages once the exit is accounted for.
func (c *frontConn) finishDelivery() {
	if c.drops > 1 {
		c.log.Warn(fmt.Sprintf("dropped %d messages in all while the process stopped", c.drops))
	}
	<-c.done
	close(c.msgs)
}

// delivered counts a message delivered (or dropped), and gives the backend
// a batch of credits back every buffer's worth.
func (c *frontConn) delivered() {
	batch := int64(max(c.window/creditsPerBuffer, 1))
	if c.owed.Add(1) >= batch {
		if k := c.owed.Swap(0); k > 0 {
			c.giveCredits(int(k))
		}
	}
}

// giveCredits gives the backend k credits back, unless it is gone.
func (c *frontConn) giveCredits(k int) {
	rc, err := c.credits.SyscallConn()
	if err != nil {
		return // closed: the backend has exited
	}
	rc.Control(func(fd uintptr) { giveCredits(int(fd), k) })
}

// dropped logs the first message dropped; the others are only counted.
func (c *frontConn) dropped(m Message) {
	c.log.Warn(fmt.Sprintf("dropped message %q: Messages is full and the process is stopping (further drops are counted)", m.Command))
}
