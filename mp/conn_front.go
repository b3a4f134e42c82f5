package mp

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// frontConn is the frontend's end of a connection (conn.go): it writes
// commands and cancellations, reads the message pipe (a Call its own reply,
// the reader goroutine the rest: msgpipe.go, conn_call.go, route.go),
// delivers messages to Messages (inbox.go, deliver.go) and gives the
// backend credits back (credits.go). What is not the transport's to decide
// it asks its owner, the Process.
type frontConn struct {
	owner    frontOwner
	name     string // the process's, for errors
	log      *slog.Logger
	in       *frameWriter    // our end of the command pipe
	cancels  *frameWriter    // our end of the cancel pipe (see call)
	pipe     *msgPipe        // our end of the message pipe (msgpipe.go)
	stopping <-chan struct{} // closed once the owner stops the peer: see deliver
	done     <-chan struct{} // closed once the owner has accounted for the exit

	msgs      chan Message
	receivers atomic.Int32 // goroutines in Recv (see recv)
	inbox     *inbox       // messages read, waiting to be delivered to msgs
	queued    atomic.Int64 // messages pushed to inbox and not yet delivered
	drops     int          // messages dropped while stopping; deliver's own
	owed      atomic.Int64 // credits earned by delivered messages, not yet given
	window    int          // the backend's message credits: 4 × MessageBuffer
	credits   *os.File     // eventfd of the credits given back (credits.go)

	nextID  atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]chan callResult // calls waiting for their reply
	// Calls whose callers gave up, not yet answered (abandoned.go): the
	// first maxAbandoned of them; the highest id; closed once it is
	// answered, if WaitAbandoned waits.
	abandoned  []abandonedCall
	unanswered uint64
	settled    chan struct{}
}

// frontOwner is what a frontConn asks its process about.
type frontOwner interface {
	// usable returns nil while commands may be sent.
	usable() error
	// sendError is what a failed write of a command returns.
	sendError(err error) error
	// deathError says why the peer is gone, once done is closed.
	deathError() error
	// control handles a frame the backend sends about itself (ready,
	// error, fatal, ending); false for a kind that has no business on
	// the message pipe.
	control(fr frame) bool
	// badData records that the peer sent bad data (err), fails the calls
	// waiting and kills the peer.
	badData(err error)
	// reap accounts for the peer's exit once the message pipe has ended:
	// it closes the connection (close), then done.
	reap()
}

// newFrontConn makes the frontend's end of a connection over the command
// and cancel pipes' write ends; open adds the message pipe once the
// backend runs. Messages has room for buffer messages.
func newFrontConn(owner frontOwner, name string, log *slog.Logger, cmdW, cancW *os.File, buffer int, stopping, done <-chan struct{}) *frontConn {
	return &frontConn{
		owner: owner, name: name, log: log,
		in:       newFrameWriter(cmdW),
		cancels:  newFrameWriter(cancW),
		stopping: stopping, done: done,
		window:  creditsPerBuffer * buffer,
		msgs:    make(chan Message, buffer),
		inbox:   newInbox(),
		pending: map[uint64]chan callResult{},
	}
}

// open reads the message pipe from now on; the caller then runs read on a
// goroutine of its own.
func (c *frontConn) open(outR *os.File) (err error) {
	c.pipe, err = newMsgPipe(outR)
	return err
}

// sendStart sends the start parameters, the command pipe's first frame.
func (c *frontConn) sendStart(ctx context.Context, params Params) error {
	return c.in.write(ctx, &frame{kind: kindInit, params: params})
}

// messages returns the channel messages are delivered to; it is closed
// once the pipe has ended, done is closed and the messages read before are
// delivered (see deliver).
func (c *frontConn) messages() <-chan Message { return c.msgs }

// closeSend closes the command pipe: the backend stops once it has
// handled what came before. The cancel pipe stays open until close.
func (c *frontConn) closeSend() {
	c.in.close()
	c.pipe.expectEnd()
	// The backend's loop may wait in read(2) beside a write end of its own
	// (plainread.go): tell it the pipe is closed, so that it closes that
	// end and the read sees the pipe's end. The word must arrive, and
	// closeSend must not wait: where the cancel pipe takes no frame now (a
	// backend stopped while its callers gave up), it goes in the
	// background, until close ends the write.
	closed := &frame{kind: kindCommandsClosed}
	noWait, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.cancels.write(noWait, closed); errors.Is(err, context.Canceled) {
		go c.cancels.write(context.Background(), closed) // a few bytes: whole, or not at all
	}
}

// close closes what is left once the peer has exited.
func (c *frontConn) close() {
	c.credits.Close()
	c.in.close()
	c.cancels.close()
}
