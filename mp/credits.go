package mp

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Messages from a backend (Backend.Send) are flow-controlled with credits,
// so that a reply never waits behind them and a frontend that does not read
// Messages still holds back its backend:
//
//   - the backend starts with 4 × Options.MessageBuffer credits (256 by
//     default) and spends one per message; with none left, Send blocks until the
//     frontend gives some back (or Send's ctx ends). Messages sent before the
//     loop starts (by PreRun) need none: nobody can read them before Start
//     returns; the credits they earn back raise the window by as many;
//   - the frontend's reader never blocks: it routes replies to their calls
//     at once, puts a message straight into the Messages channel when it
//     has room and nothing waits before it, and otherwise queues it (at
//     most the credits it gave) for the goroutine that delivers in order;
//   - each message delivered (or dropped by a stop) earns a credit back, in
//     batches of MessageBuffer (a quarter of the window, so that a fast
//     sender rarely waits for a batch), added to an eventfd the two
//     processes share (file descriptor 5 in the backend). An eventfd write
//     never blocks, so credits never wait behind commands on the pipe;
//   - once the command pipe ends, credits are free: the frontend is
//     stopping the process (and drops what does not fit in Messages) or it
//     is gone (and the write fails).
//
// So at most 5 × MessageBuffer messages wait in the frontend: the channel's
// buffer and the queue behind it.

// credits counts the messages a backend may still send.
type credits struct {
	free  atomic.Bool   // before the loop starts (pre-run) and after the command pipe ends
	turn  chan struct{} // a one-slot lock that a ctx can give up waiting for
	n     uint64        // credits in hand; only with the turn
	efd   int           // the shared eventfd (non-blocking)
	cmdFd int           // the command pipe, watched for its end; -1 before watch
}

func newCredits(n int, efd int) *credits {
	c := &credits{turn: make(chan struct{}, 1), n: uint64(n), efd: efd, cmdFd: -1}
	c.free.Store(true)
	return c
}

// watch starts counting: from now on a message needs a credit, until the
// command pipe cmdFd ends (see end). The loop reads that pipe itself and
// may be inside a handler that waits for credits when the frontend closes
// it, so a wait watches the pipe's hang-up too.
func (c *credits) watch(cmdFd int) {
	c.cmdFd = cmdFd
	c.free.Store(false)
}

// end makes credits free for good: the command pipe ended, so the frontend
// is stopping us (and no longer holds messages back: it drops what does not
// fit in Messages, see Process.deliver) or it is gone (and the write that
// follows fails with EPIPE). Failing the Send here instead would fail
// handlers that RequestStop promises to finish.
func (c *credits) end() { c.free.Store(true) }

// take spends one credit, waiting for the frontend to give some while there
// are none.
func (c *credits) take(ctx context.Context) error {
	if c.free.Load() {
		return nil
	}
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-c.turn }()
	for c.n == 0 {
		if c.free.Load() {
			return nil // the command pipe ended while we waited
		}
		got, err := c.wait(ctx)
		if err != nil {
			return err
		}
		c.n += got
	}
	c.n--
	return nil
}

// wait takes the credits the eventfd holds, waiting for some with poll(2)
// until the frontend gives them, the command pipe hangs up (then it returns
// 0 and credits are free), or ctx ends. It blocks a thread, but only while
// the frontend leaves its messages unread.
func (c *credits) wait(ctx context.Context) (uint64, error) {
	var buf [8]byte
	var wake *waker
	for {
		_, err := unix.Read(c.efd, buf[:])
		switch err {
		case nil:
			return binary.NativeEndian.Uint64(buf[:]), nil
		case unix.EAGAIN, unix.EINTR:
		default:
			return 0, fmt.Errorf("reading credits: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return 0, context.Cause(ctx)
		}
		if wake == nil {
			if wake, err = newWaker(ctx); err != nil {
				return 0, fmt.Errorf("waiting for credits: %w", err)
			}
			defer wake.close()
		}
		fds := []unix.PollFd{
			{Fd: int32(c.efd), Events: unix.POLLIN},
			{Fd: int32(c.cmdFd)}, // POLLHUP once the frontend closed it
			{Fd: int32(wake.fd), Events: unix.POLLIN},
		}
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return 0, fmt.Errorf("waiting for credits: %w", err)
		}
		if fds[1].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			c.end()
			return 0, nil
		}
	}
}

// waker is an eventfd that becomes readable when a ctx ends, so that a
// poll(2) can watch the ctx beside its descriptors.
type waker struct {
	fd    int
	stop  func() bool
	fired chan struct{} // closed once the ctx's end has been written
}

func newWaker(ctx context.Context) (*waker, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	w := &waker{fd: fd, fired: make(chan struct{})}
	w.stop = context.AfterFunc(ctx, func() {
		defer close(w.fired)
		giveCredits(fd, 1)
	})
	return w, nil
}

// close stops watching the ctx and closes the eventfd once nothing writes
// it any more.
func (w *waker) close() {
	if !w.stop() {
		<-w.fired
	}
	unix.Close(w.fd)
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
