package mp

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/mpgo/mp/internal/spin"
	"golang.org/x/sys/unix"
)

// spinner is how long a waiter polls before it parks, and learns from
// what came (internal/spin: polling then sleeping beats sleeping at once
// when data comes within microseconds). A reader of a pipe (spinReader)
// has one; so has the frontend's message pipe, whose readers change hands
// (msgpipe.go). Each try is a system call: one per yield of the processor.
type spinner struct{ *spin.Spinner }

func newSpinner() *spinner { return &spinner{spin.New(1, true)} }

// arrived records that data came.
func (s *spinner) arrived() { s.Arrived() }

// poll calls try until it returns true or polling gives up (at once when
// it is off, the pipe was quiet or the machine is busy), and reports
// whether try returned true.
func (s *spinner) poll(try func() bool) bool { return s.Poll(try) }

// polls reports whether poll would call try now; if not, a waiter goes
// straight to its wait in the kernel (spin.Spinner.Polls).
func (s *spinner) polls() bool { return s.Polls() }

// spinReader reads one end of a pipe, polling it for a while before it parks
// (see above). Deadlines and Close work as for os.File.Read.
type spinReader struct {
	rc syscall.RawConn
	*spinner
	wake        int         // an eventfd that interrupts a Read blocked in poll(2), or -1 (see block.go)
	plain       *plainPipe  // the pipe opened again (plainread.go), or nil
	interrupted atomic.Bool // interrupt was called
	full        bool        // the last readBlocking filled its buffer
}

func newSpinReader(f *os.File) (*spinReader, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &spinReader{rc: rc, spinner: newSpinner(), wake: -1}, nil
}

// blocking makes Read block its thread once polling gives up, for as long
// as it waits: in read(2) (plainread.go), or in poll(2) on the pipe and a
// waker (block.go) where the pipe cannot be opened again; interrupt ends
// such a wait. With read(2), peerClosed must be called once the writer has
// closed its end.
func (r *spinReader) blocking() error {
	r.rc.Control(func(fd uintptr) { r.plain = openPlain(int(fd)) })
	if r.plain != nil {
		return nil
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return err
	}
	r.wake = fd
	return nil
}

// peerClosed says that the pipe's writer has closed its end (see
// plainPipe.peerClosed).
func (r *spinReader) peerClosed() {
	if r.plain != nil {
		r.plain.peerClosed()
	}
}

// interrupt makes every Read from now on fail with os.ErrDeadlineExceeded,
// waking one in progress; for a reader in blocking mode (the backend's
// command loop, the only one interrupted, once, as it ends).
func (r *spinReader) interrupt() {
	if r.interrupted.Swap(true) {
		return
	}
	if r.plain != nil {
		r.plain.nudge()
		return
	}
	if r.wake >= 0 {
		unix.Write(r.wake, one[:])
	}
}

// release closes the descriptors blocking made; for tests: a backend's
// reader lives as long as its process.
func (r *spinReader) release() {
	if r.wake >= 0 {
		unix.Close(r.wake)
	}
	if r.plain != nil {
		r.plain.release()
	}
}

// Read reads into p, as os.File.Read does.
func (r *spinReader) Read(p []byte) (int, error) {
	if r.plain != nil || r.wake >= 0 { // blocking mode
		return r.readBlocking(p)
	}
	return r.read(p, true)
}

// read is Read through the runtime's poller, polling first if poll.
func (r *spinReader) read(p []byte, poll bool) (int, error) {
	var n int
	var opErr error
	err := r.rc.Read(func(fd uintptr) bool {
		read := func() bool {
			n, opErr = readRetry(int(fd), p)
			return opErr != unix.EAGAIN
		}
		// Park in the poller until the pipe is readable, unless polling
		// finds data first.
		return read() || poll && r.poll(read)
	})
	if err != nil {
		// RawConn reports a closed file with the poller's own error; say
		// os.ErrClosed as File.Read does. Deadlines are already
		// os.ErrDeadlineExceeded.
		var errno syscall.Errno
		if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.As(err, &errno) {
			err = os.ErrClosed
		}
		return 0, err
	}
	if opErr != nil {
		return 0, opErr
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	r.arrived()
	return n, nil
}

// readSoon reads into p what comes while it polls or, waiting in the
// kernel (block.go), within blockFor, and reports whether it read (or the
// read failed: err); if not, nothing came, ctx ended or no thread was to
// spare, and the caller waits in the runtime's poller (read, without
// polling again).
func (r *spinReader) readSoon(ctx context.Context, p []byte) (n int, done bool, err error) {
	cerr := r.rc.Control(func(fd uintptr) {
		read := func() bool {
			n, err = readRetry(int(fd), p)
			return err != unix.EAGAIN
		}
		done = r.polls() && (read() || r.poll(read)) || waitSoon(ctx, int(fd), read, nil)
	})
	switch {
	case cerr != nil:
		return 0, true, os.ErrClosed
	case !done:
		return 0, false, nil
	case err != nil:
		return 0, true, err
	case n == 0 && len(p) > 0:
		return 0, true, io.EOF
	}
	r.arrived()
	return n, true, nil
}

// readBlocking is Read for a reader in blocking mode.
func (r *spinReader) readBlocking(p []byte) (int, error) {
	for {
		if r.interrupted.Load() {
			return 0, os.ErrDeadlineExceeded
		}
		var n int
		var opErr error
		var readable bool
		err := r.rc.Control(func(fd uintptr) {
			read := func() bool {
				n, opErr = readRetry(int(fd), p)
				return opErr != unix.EAGAIN
			}
			// A read that filled p probably left more behind: read
			// again at once. Otherwise the wait below returns at once
			// if data is there, and a first read would be one system
			// call more on the round trip's path, unless polling wants
			// it.
			if (r.full || r.polls()) && (read() || r.poll(read)) {
				readable = true
				return
			}
			if r.plain != nil {
				n, opErr = readRetry(r.plain.r, p)
				readable = true
				return
			}
			ok, err := waitReadable(context.Background(), int(fd), r.wake, -1)
			if err != nil {
				opErr = err
				return
			}
			readable = ok && read()
		})
		switch {
		case err != nil:
			return 0, os.ErrClosed
		case r.interrupted.Load():
			// What was read may hold interrupt's byte: never parsed.
			return 0, os.ErrDeadlineExceeded
		case !readable && (opErr == nil || opErr == unix.EAGAIN):
			continue
		case opErr != nil:
			return 0, opErr
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		r.full = n == len(p)
		r.arrived()
		return n, nil
	}
}

// readRetry is read(2), retried on EINTR.
func readRetry(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}
