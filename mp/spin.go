package mp

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/busy"
	"github.com/mpgo/mp/internal/env"
	"golang.org/x/sys/unix"
)

// Waking a sleeping thread on another CPU costs more than the pipe itself
// (on the 2-CPU virtual machine this project is measured on, a blocking pipe
// round trip takes ~9 µs and one through Go's poller 10–70 µs, but ~2 µs
// when both sides poll the pipe for a moment before sleeping). So a reader
// that has just seen data polls the pipe for a short window before it parks
// in the runtime poller. The window adapts to how long data takes to come:
// when polling gave up and data came soon after, the next window is half
// as long again as that wait (up to maxSpin); when it came much later, the
// window halves (down to minSpin); when a pause between two polls exceeds
// preempted, the window drops to minSpin: the kernel gave the thread's CPU
// to another thread (more busy threads than CPUs), or the goroutines that
// ran in between (runtime.Gosched) or the poll itself (a Call routing a
// large frame) took that long, which this cannot tell apart;
// and no polling happens at all when the pipe was quiet for longer than
// recently.
// An idle process therefore uses no CPU. MP_SPIN=0 turns polling off.
const (
	minSpin  = 2 * time.Microsecond
	maxSpin  = 50 * time.Microsecond
	recently = time.Millisecond
	// preempted is a pause between two polls too long for a poll alone
	// (which takes well under a microsecond): the kernel gave the thread's
	// CPU to another thread meanwhile, or other goroutines (or the try
	// itself) ran that long; see above.
	preempted = 20 * time.Microsecond
)

// spinOff is MP_SPIN=0 (or false), read once.
var spinOff = func() bool {
	on, _ := env.Bool("MP_SPIN", true)
	return !on
}()

// spinner decides how long a waiter polls before it parks, as described
// above. A reader of a pipe (spinReader) has one; so has the frontend's
// message pipe, whose readers change hands (msgpipe.go).
type spinner struct {
	window atomic.Int64 // the polling window, in nanoseconds
	last   atomic.Int64 // when data last arrived, as monotonic nanoseconds
	parked atomic.Int64 // when polling last gave up, 0 once data came
}

var clockStart = time.Now()

func monotonic() int64 { return int64(time.Since(clockStart)) }

func newSpinner() *spinner {
	s := &spinner{}
	s.window.Store(int64(maxSpin))
	return s
}

// arrived records that data came, adapting the window.
func (s *spinner) arrived() {
	now := monotonic()
	if parked := s.parked.Swap(0); parked != 0 {
		// Polling gave up, then the data came: had it come soon after,
		// a longer window would have caught it; poll that long next time.
		// Otherwise polling was wasted: halve the window.
		if late := now - parked; late < int64(maxSpin) {
			s.window.Store(min(max(late*3/2, int64(minSpin)), int64(maxSpin)))
		} else {
			s.window.Store(max(s.window.Load()/2, int64(minSpin)))
		}
	}
	s.last.Store(now)
}

// poll calls try until it returns true or the window ends, letting the
// processor run what else is ready between calls, and reports whether try
// returned true. It does not poll at all when polling is off (MP_SPIN=0),
// no data came recently, or the machine is busy (internal/busy).
func (s *spinner) poll(try func() bool) bool {
	now := monotonic()
	if spinOff || now-s.last.Load() > int64(recently) || busy.Machine() {
		return false
	}
	deadline := now + s.window.Load()
	for prev := now; ; {
		// Let this P run what is ready (the goroutine we just handed a
		// message to, typically) before looking again.
		runtime.Gosched()
		if try() {
			return true
		}
		t := monotonic()
		if t-prev > int64(preempted) {
			// This thread lost its CPU while it polled (more busy
			// threads than CPUs, and polling takes CPU from the peer
			// we wait for), or other work ran between two polls:
			// either way, poll as little as possible from now on.
			s.window.Store(int64(minSpin))
			break
		}
		if prev = t; t >= deadline {
			break
		}
	}
	s.parked.Store(monotonic())
	return false
}

// spinReader reads one end of a pipe, polling it for a while before it parks
// (see above). Deadlines and Close work as for os.File.Read.
type spinReader struct {
	rc syscall.RawConn
	*spinner
	wake        int         // an eventfd that interrupts a blocked Read, or -1 (see block.go)
	interrupted atomic.Bool // interrupt was called
}

func newSpinReader(f *os.File) (*spinReader, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &spinReader{rc: rc, spinner: newSpinner(), wake: -1}, nil
}

// blocking makes Read block its thread in poll(2) once polling gives up,
// for as long as it waits (see block.go); interrupt ends such a wait.
func (r *spinReader) blocking() error {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return err
	}
	r.wake = fd
	return nil
}

// interrupt makes every Read from now on fail with os.ErrDeadlineExceeded,
// waking one in progress; for a reader in blocking mode (the backend's
// command loop, the only one interrupted).
func (r *spinReader) interrupt() {
	r.interrupted.Store(true)
	if r.wake >= 0 {
		unix.Write(r.wake, one[:])
	}
}

// Read reads into p, as os.File.Read does.
func (r *spinReader) Read(p []byte) (int, error) {
	if r.wake >= 0 {
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
		done = read() || r.poll(read) || waitSoon(ctx, int(fd), read, nil)
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
			if read() || r.poll(read) {
				readable = true
				return
			}
			_, opErr = waitReadable(context.Background(), int(fd), r.wake, -1)
		})
		switch {
		case err != nil:
			return 0, os.ErrClosed
		case !readable && (opErr == nil || opErr == unix.EAGAIN):
			continue
		case opErr != nil:
			return 0, opErr
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
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
