package mp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// frameWriter writes whole frames to one end of a pipe. It is safe for use by
// several goroutines: one frame is written at a time, in the order the
// writers got their turn.
//
// A frame is written whole or not at all. A writer whose ctx ends before the
// first byte went out gives up; one whose ctx ends half way through a frame
// gets ctx's error at once, and the rest of the frame is written in the
// background, so that the stream stays whole and the peer healthy. Only
// close (or the peer's death) ends a write in progress.
type frameWriter struct {
	turn   chan struct{} // a one-slot lock that a ctx can give up waiting for
	f      *os.File
	rc     syscall.RawConn // f's descriptor, for the first attempt; nil if f blocks
	closed atomic.Bool     // set by close, which must not wait for the turn
	held   atomic.Bool     // pending > 0: read without the turn (writeGathered)

	// With the turn:
	buf     []byte // the frames waiting (buf[:pending]), then the one being written
	pending int    // bytes of gathered messages not yet written (gather.go)
	gather  *gathering
	try     rawWriteCall // tryWrite's call to rawWrite, made once
}

// rawWriteCall is a write(2) for RawConn.Control, with its buffer and results
// in fields: a closure made for each write would cost allocations on every
// message's path.
type rawWriteCall struct {
	buf  []byte
	n    int
	err  error
	call func(fd uintptr)
}

func newFrameWriter(f *os.File) *frameWriter {
	w := &frameWriter{turn: make(chan struct{}, 1), f: f}
	t := &w.try
	t.call = func(fd uintptr) { t.n, t.err = rawWrite(int(fd), t.buf) }
	if rc, err := f.SyscallConn(); err == nil {
		var flags int
		var ferr error
		rc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) })
		if ferr == nil && flags&unix.O_NONBLOCK != 0 {
			w.rc = rc
		}
	}
	return w
}

// tryWrite writes what of buf the pipe takes now, in one non-blocking
// write(2), and returns how much: when the pipe has room, a frame goes out
// without the runtime's poller or a watch on ctx. It returns 0 and no
// error when the pipe is full (or f is closed), for the caller's slow path.
// The caller holds the turn.
func (w *frameWriter) tryWrite(buf []byte) (int, error) {
	if w.rc == nil {
		return 0, nil
	}
	t := &w.try
	t.buf = buf
	cerr := w.rc.Control(t.call)
	n, err := t.n, t.err
	t.buf, t.n, t.err = nil, 0, nil
	if cerr != nil {
		return 0, nil // closed: the slow path says so
	}
	switch {
	case err == unix.EAGAIN:
		return 0, nil
	case err != nil:
		return 0, &os.PathError{Op: "write", Path: w.f.Name(), Err: err}
	}
	return n, nil
}

// errRestFollows is wrapped with ctx's error by a write whose ctx ended
// half way through its frame: the peer will receive the frame whole.
var errRestFollows = errors.New("the rest of the frame follows in the background")

// longAgo is a deadline in the past: setting it wakes a blocked read or write.
var longAgo = time.Unix(1, 0)

// write encodes fr and writes it in one system call where the pipe allows.
// It returns ctx's error if ctx ends before the frame started to go out, or
// while it was going out (the rest then follows in the background, and the
// error also wraps errRestFollows), and
// ErrStopped once the writer is closed.
func (w *frameWriter) write(ctx context.Context, fr *frame) error {
	if err := w.takeTurn(ctx); err != nil {
		return err
	}
	return w.writeTurn(ctx, fr)
}

// writeNumbered is write, setting fr.id to what number (if not nil)
// returns once the writer's turn is taken, before fr is encoded: the ids
// number gives are in the order of the pipe.
func (w *frameWriter) writeNumbered(ctx context.Context, fr *frame, number func() uint64) error {
	if err := w.takeTurn(ctx); err != nil {
		return err
	}
	if number != nil {
		fr.id = number()
	}
	return w.writeTurn(ctx, fr)
}

// takeTurn takes the writer's turn, or returns ctx's cause if ctx ends
// first, or ErrStopped (and no turn) once the writer is closed.
func (w *frameWriter) takeTurn(ctx context.Context) error {
	select {
	case w.turn <- struct{}{}:
	default:
		select {
		case w.turn <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	if w.closed.Load() {
		<-w.turn
		return ErrStopped
	}
	return nil
}

// writeTurn is write once the turn is taken; it gives the turn back (or
// leaves it to the background writer of the frame's rest). fr does not
// escape: write's callers build their frames on the stack.
func (w *frameWriter) writeTurn(ctx context.Context, fr *frame) error {
	// The frame goes behind the messages gathered so far (gather.go), and
	// all go out in one write.
	before := w.pending
	buf, err := appendFrame(w.buf[:before], fr)
	if err != nil {
		<-w.turn
		return err
	}
	w.buf = buf
	if w.gather != nil && w.gather.hold(w, fr) {
		w.setPending(len(buf))
		<-w.turn
		return nil
	}
	n, err := w.tryWrite(buf)
	if err == nil && n < len(buf) {
		var m int
		if ctx.Done() == nil {
			m, err = w.f.Write(buf[n:])
		} else {
			m, err = w.writeCtx(ctx, buf[n:])
		}
		n += m
	}
	w.setPending(0)
	if cap(w.buf) > 64<<10 {
		w.buf = nil // do not keep a large frame's buffer
	}
	if n == 0 && err != nil && before > 0 {
		// Nothing went out: the gathered messages wait for the next
		// write; only this frame is given up.
		w.setPending(before)
		w.buf = buf[:before]
	}
	if w.gather != nil && n > 0 {
		w.gather.wrote()
	}
	if err != nil && n > 0 && n < len(buf) && !w.closed.Load() && isCtxErr(ctx, err) {
		// Half a frame is out: finish it in the background, keeping the
		// turn until it is done, so that the stream stays whole.
		rest := append([]byte(nil), buf[n:]...)
		go func() {
			defer func() { <-w.turn }()
			w.f.Write(rest)
		}()
		return fmt.Errorf("%w (%w)", err, errRestFollows)
	}
	<-w.turn
	if err == nil {
		return nil
	}
	if w.closed.Load() {
		return ErrStopped // close interrupted us
	}
	return err
}

// writePending writes the gathered messages, if any, waiting for room in
// the pipe as long as it takes (close ends the wait). The caller holds the
// turn.
func (w *frameWriter) writePending() {
	if w.pending == 0 || w.closed.Load() {
		return
	}
	buf := w.buf[:w.pending]
	n, err := w.tryWrite(buf)
	if err == nil && n < len(buf) {
		w.f.Write(buf[n:])
	}
	w.setPending(0)
	w.gather.wrote()
}

func isCtxErr(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Cause(ctx))
}

// writeCtx writes buf, interrupting the write through a deadline when ctx
// ends first.
func (w *frameWriter) writeCtx(ctx context.Context, buf []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, context.Cause(ctx)
	}
	stop := interruptOnDone(ctx, w.f.SetWriteDeadline)
	n, err := w.f.Write(buf)
	if stop() && errors.Is(err, os.ErrDeadlineExceeded) {
		err = context.Cause(ctx)
	}
	return n, err
}

// interruptOnDone wakes a blocked read or write on a file when ctx ends, by
// moving its deadline (set is SetReadDeadline or SetWriteDeadline) into the
// past. The returned function undoes that, after a move in progress has
// finished, and reports whether ctx did interrupt.
func interruptOnDone(ctx context.Context, set func(time.Time) error) (stop func() bool) {
	fired := make(chan struct{})
	after := context.AfterFunc(ctx, func() {
		defer close(fired)
		set(longAgo)
	})
	return func() bool {
		if after() {
			return false
		}
		<-fired
		set(time.Time{})
		return true
	}
}

// seal waits until no frame is going out (a write in progress, or the
// rest of one that follows in the background, see write), or until ctx
// ends, and reports whether the writer was idle by then; if it was, it
// writes the gathered messages and keeps the turn for good. A backend
// seals its message pipe before it exits: exiting does not cut a frame
// whose rest is still going out, nor lose a gathered message, and a
// frame written after the seal waits for the exit instead of being
// gathered and lost (its Send never returns).
func (w *frameWriter) seal(ctx context.Context) bool {
	select {
	case w.turn <- struct{}{}:
		w.writePending()
		return true
	case <-ctx.Done():
		return false
	}
}

// close closes the pipe end; writes after it fail with ErrStopped. It does
// not wait for a write in progress, which may be blocked on a full pipe
// forever: closing the file interrupts that write.
func (w *frameWriter) close() error {
	if !w.closed.CompareAndSwap(false, true) {
		return nil
	}
	return w.f.Close()
}

// rawWrite is write(2) on a non-blocking descriptor, retried on EINTR,
// without the runtime's system-call bookkeeping: a write that cannot block
// needs no hand-off of its processor, and entersyscall wakes the runtime's
// sysmon thread when it sleeps, which then runs a few more times: for a
// backend that sends now and then, that was 4 of the 6 thread wake-ups,
// and 40 % of the CPU, of each message (docs/benchmarks.md). Only for a
// descriptor that is non-blocking: a blocking one would hold its processor
// for as long as it blocked.
func rawWrite(fd int, buf []byte) (int, error) {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)))
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}
