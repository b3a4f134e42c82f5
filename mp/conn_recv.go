package mp

import (
	"context"
	"io"
)

// recv returns the next message the backend sent, the one a receive from
// Messages would get. Unless messages already wait for the deliverer, it
// reads the message pipe itself, as a Call reads its reply (readUntil): a
// message it routes goes into Messages' buffer and comes straight back
// out, with no goroutine to wake on the way. It returns io.EOF once
// Messages is closed, and ctx's cause if ctx ends first.
func (c *frontConn) recv(ctx context.Context) (Message, error) {
	// Registered before the token is tried, as a Call is (see waiting):
	// whoever holds the token then arms the pipe for the reader goroutine
	// when it lets go, should this receiver wait for the reader.
	c.receivers.Add(1)
	var m Message
	ok := false
	ready := func() bool {
		select {
		case m, ok = <-c.msgs:
			c.receivers.Add(-1) // served: no wake-up needed for us
			return true
		default:
			return false
		}
	}
	if !ready() && !c.readFor(ctx, ready) {
		// Messages queued for the deliverer come through Messages, in
		// order; so does what the reader goroutine reads while another
		// goroutine holds the token.
		select {
		case m, ok = <-c.msgs:
		case <-ctx.Done():
			c.receivers.Add(-1)
			return Message{}, context.Cause(ctx)
		}
		c.receivers.Add(-1)
	}
	if !ok {
		return Message{}, io.EOF
	}
	return m, nil
}

// readFor reads the pipe for a registered receiver (readUntil) and reports
// whether ready got a message, unless messages wait for the deliverer:
// those come through Messages first. A receiver that does not try the
// token still needs the pipe armed for the reader goroutine: a holder that
// let the token go before the receiver registered may have left it
// unarmed (letGo), the queued messages may go to another reader of
// Messages, and queued may still count one this receiver has taken
// (deliver counts down after its send). readFor arms the pipe unless a
// holder has the token, which arms when it lets go, seeing the receiver
// (waiting).
func (c *frontConn) readFor(ctx context.Context, ready func() bool) bool {
	queued := func() bool { return c.queued.Load() > 0 }
	if queued() {
		c.pipe.armIfFree()
		return false
	}
	// Messages may come to wait for the deliverer after the look above
	// (another reader of Messages is slow): the receiver then leaves the
	// pipe, which letGo arms for the reader goroutine, rather than wait
	// on it beside a message that waits in Messages.
	return c.readUntil(ctx, ready, queued)
}
