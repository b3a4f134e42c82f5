package mp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// frameWriter writes whole frames to one end of a pipe. It is safe for use by
// several goroutines: a mutex keeps frames from interleaving.
type frameWriter struct {
	mu     sync.Mutex
	f      *os.File
	buf    []byte
	broken error       // set when a frame was cut in half; the stream is unusable
	closed atomic.Bool // set by close, which must not wait for mu
}

// errCut is returned (wrapped) by write when ctx ended half way through a
// frame: the pipe is closed, since the reader could never find the next
// frame boundary.
var errCut = errors.New("interrupted half way through a frame: the pipe is closed")

// longAgo is a deadline in the past: setting it wakes a blocked read or write.
var longAgo = time.Unix(1, 0)

// write encodes fr and writes it in one system call where the pipe allows.
// When ctx ends before the pipe takes the frame, write returns ctx's error;
// if that happens half way through a frame, the stream is closed for good,
// since the reader could never find the next frame boundary.
func (w *frameWriter) write(ctx context.Context, fr *frame) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() {
		return ErrStopped
	}
	if w.broken != nil {
		return w.broken
	}
	buf, err := appendFrame(w.buf[:0], fr)
	if err != nil {
		return err
	}
	if cap(buf) <= 64<<10 {
		w.buf = buf
	}
	var n int
	if ctx.Done() == nil {
		n, err = w.f.Write(buf)
	} else {
		n, err = w.writeCtx(ctx, buf)
	}
	if err == nil {
		return nil
	}
	if w.closed.Load() {
		return ErrStopped // close interrupted us
	}
	if n > 0 {
		// Later writes get the same error, without this call's cause.
		w.broken = fmt.Errorf("%w: %w", errCut, ErrStopped)
		w.f.Close()
		return fmt.Errorf("%w (%w)", errCut, err)
	}
	return err
}

// writeCtx writes buf, interrupting the write through a deadline when ctx
// ends first.
func (w *frameWriter) writeCtx(ctx context.Context, buf []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		w.f.SetWriteDeadline(longAgo)
	})
	n, err := w.f.Write(buf)
	if !stop() {
		<-fired
		w.f.SetWriteDeadline(time.Time{})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = context.Cause(ctx)
		}
	}
	return n, err
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
