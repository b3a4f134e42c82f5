package mp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Messages from a backend (Backend.Send) are flow-controlled with credits,
// so that a reply never waits behind them and a frontend that does not read
// Messages still holds back its backend:
//
//   - the backend starts with 4 × Options.MessageBuffer credits (1,024 by
//     default) and spends one per message; with none left, Send blocks until the
//     frontend gives some back (or Send's ctx ends). Before the loop starts
//     (in PreRun) nobody can read Messages, since Start has not returned:
//     there a Send that finds no credit fails at once with ErrQueueFull
//     instead of waiting;
//   - whoever reads the frontend's end of the pipe (the reader goroutine,
//     or a Call waiting for its reply, see msgpipe.go) never blocks on
//     anything else: it routes replies to their calls at once, puts a
//     message straight into the Messages channel when it has room and
//     nothing waits before it, and otherwise queues it (at most the
//     credits it gave) for the goroutine that delivers in order;
//   - each message delivered (or dropped by a stop) earns a credit back, in
//     batches of MessageBuffer (a quarter of the window, so that a fast
//     sender rarely waits for a batch), added to an eventfd the two
//     processes share (file descriptor 5 in the backend). An eventfd write
//     never blocks, so credits never wait behind commands on the pipe;
//   - a frontend that is stopping the process drops what does not fit in
//     Messages, which gives credits back, so a stop never waits for a
//     reader; and once the loop has seen the command pipe end, credits are
//     free: the frontend is stopping the process or it is gone (and the
//     write fails). A handler blocked in Send when the frontend dies is
//     released by its ctx, which the parent-death signal (SIGTERM) ends.
//
// So at most 5 × MessageBuffer messages wait in the frontend: the channel's
// buffer and the queue behind it.

// credits counts the messages a backend may still send.
type credits struct {
	free   atomic.Bool   // the command pipe ended: no credit needed any more
	prerun atomic.Bool   // before the loop starts: never wait for credits
	turn   chan struct{} // a one-slot lock that a ctx can give up waiting for
	n      uint64        // credits in hand; only with the turn
	// beforeWait runs before Send waits for credits: the messages gathered
	// for a later write (gather.go) must go out, or no credit comes back.
	beforeWait func()
	efd        *os.File // the shared eventfd, read through the runtime poller
}

func newCredits(n int, efd *os.File) *credits {
	c := &credits{turn: make(chan struct{}, 1), n: uint64(n), efd: efd}
	c.prerun.Store(true)
	return c
}

// take spends one credit, waiting for the frontend to give some while there
// are none.
func (c *credits) take(ctx context.Context) error {
	if c.free.Load() {
		return nil
	}
	// A free turn is taken without a look at ctx: ctx bounds the waits
	// only (and a Done channel would cost the handler's ctx an allocation).
	select {
	case c.turn <- struct{}{}:
	default:
		select {
		case c.turn <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	defer func() { <-c.turn }()
	for c.n == 0 {
		if c.free.Load() {
			return nil // the command pipe ended while we waited
		}
		if c.prerun.Load() {
			if c.n += c.poll(); c.n == 0 {
				return fmt.Errorf("%w: the frontend reads none before Start returns, so a pre-run hook may send at most 5 × Options.MessageBuffer messages", ErrQueueFull)
			}
			break
		}
		if c.beforeWait != nil {
			c.beforeWait()
		}
		got, err := c.read(ctx)
		if err != nil {
			return err
		}
		c.n += got
	}
	c.n--
	return nil
}

// refund gives back the credit of a take whose message did not go out,
// through the eventfd, as the frontend gives credits: a Send waiting for
// credits wakes for it. Once credits are free (the eventfd is closed) it
// does nothing: none is needed.
func (c *credits) refund() {
	if c.free.Load() || c.efd == nil {
		return
	}
	if rc, err := c.efd.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { giveCredits(int(fd), 1) })
	}
}

// poll takes the credits the eventfd holds, without waiting.
func (c *credits) poll() uint64 {
	rc, err := c.efd.SyscallConn()
	if err != nil {
		return 0
	}
	var buf [8]byte
	var n int
	rc.Read(func(fd uintptr) bool {
		n, _ = unix.Read(int(fd), buf[:])
		return true // one attempt: never wait
	})
	if n != 8 {
		return 0
	}
	return binary.NativeEndian.Uint64(buf[:])
}

// read waits for the eventfd to hold credits and takes them all.
func (c *credits) read(ctx context.Context) (uint64, error) {
	if ctx.Done() != nil {
		defer interruptOnDone(ctx, c.efd.SetReadDeadline)()
	}
	var buf [8]byte
	if _, err := c.efd.Read(buf[:]); err != nil {
		switch {
		case ctx.Err() != nil:
			return 0, context.Cause(ctx)
		case errors.Is(err, os.ErrClosed):
			return 0, nil // see close: take finds credits free
		}
		return 0, fmt.Errorf("reading credits: %w", err)
	}
	return binary.NativeEndian.Uint64(buf[:]), nil
}

// close makes credits free for good and wakes every waiter: the loop saw
// the command pipe end, so the frontend is stopping us (and no longer holds messages
// back: it drops what does not fit in Messages, see frontConn.deliver) or it
// is gone (and the write that follows fails with EPIPE). Failing the Send
// here instead would fail handlers that CloseSend promises to finish.
func (c *credits) close() {
	c.free.Store(true)
	c.efd.Close()
}

// giveCredits adds k credits to the eventfd efd (the frontend's side).
func giveCredits(efd int, k int) error {
	var buf [8]byte
	binary.NativeEndian.PutUint64(buf[:], uint64(k))
	for {
		_, err := unix.Write(efd, buf[:])
		if err != unix.EINTR {
			return err
		}
	}
}
