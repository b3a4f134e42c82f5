package mp

import (
	"errors"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

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
// window halves (down to minSpin); when a thread of the process lost its
// CPU while polling (more busy processes than CPUs: the kernel preempted
// it), the window drops to minSpin; and no
// polling happens at all when the pipe was quiet for longer than recently.
// An idle process therefore uses no CPU. MP_SPIN=0 turns polling off.
const (
	minSpin  = 2 * time.Microsecond
	maxSpin  = 50 * time.Microsecond
	recently = time.Millisecond
)

// spinOff is MP_SPIN=0 (or false), read once.
var spinOff = func() bool {
	on, _ := env.Bool("MP_SPIN", true)
	return !on
}()

// spinReader reads one end of a pipe, polling it for a while before it parks
// (see above). Deadlines and Close work as for os.File.Read.
type spinReader struct {
	rc     syscall.RawConn
	window atomic.Int64 // the polling window, in nanoseconds
	last   atomic.Int64 // when data last arrived, as monotonic nanoseconds
	parked atomic.Int64 // when polling last gave up, 0 once data came
}

var clockStart = time.Now()

func monotonic() int64 { return int64(time.Since(clockStart)) }

func newSpinReader(f *os.File) (*spinReader, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &spinReader{rc: rc}
	r.window.Store(int64(maxSpin))
	return r, nil
}

// Read reads into p, as os.File.Read does.
func (r *spinReader) Read(p []byte) (int, error) {
	var n int
	var opErr error
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			n, opErr = unix.Read(int(fd), p)
			if opErr != unix.EINTR {
				break
			}
		}
		if opErr == unix.EAGAIN {
			if !r.poll(int(fd), p, &n, &opErr) {
				return false // park in the poller until the pipe is readable
			}
		}
		return true
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
	now := monotonic()
	if parked := r.parked.Swap(0); parked != 0 {
		// Polling gave up, then the data came: had it come soon after,
		// a longer window would have caught it; poll that long next time.
		// Otherwise polling was wasted: halve the window.
		if late := now - parked; late < int64(maxSpin) {
			r.window.Store(min(max(late*3/2, int64(minSpin)), int64(maxSpin)))
		} else {
			r.window.Store(max(r.window.Load()/2, int64(minSpin)))
		}
	}
	r.last.Store(now)
	return n, nil
}

// poll polls fd for data for the current window, if data came recently, and
// reports whether it got a result (data, EOF or an error) into n and err.
func (r *spinReader) poll(fd int, p []byte, n *int, err *error) bool {
	now := monotonic()
	if spinOff || now-r.last.Load() > int64(recently) {
		return false
	}
	window := r.window.Load()
	preempted := involuntarySwitches()
	for deadline := now + window; monotonic() < deadline; {
		// Let this P run what is ready (the goroutine we just handed a
		// message to, typically) before looking again.
		runtime.Gosched()
		*n, *err = unix.Read(fd, p)
		if *err != unix.EAGAIN && *err != unix.EINTR {
			r.checkContention(preempted)
			return true
		}
	}
	r.checkContention(preempted)
	r.parked.Store(monotonic())
	return false
}

// checkContention drops the window to its minimum if the kernel preempted a
// thread of this process while it polled (involuntary context switches, as
// getrusage counts them, since before): there are more busy processes than
// CPUs, and polling would take CPU from the peer we wait for.
func (r *spinReader) checkContention(before int64) {
	if involuntarySwitches() != before {
		r.window.Store(int64(minSpin))
	}
}

func involuntarySwitches() int64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Nivcsw
}
