package mp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The backend's loop waits for its next command in read(2) itself, the
// kernel's own floor for a pipe, rather than in poll(2) on the pipe and a
// waker: a blocked read(2) is woken by the writer directly, and poll(2)
// costs a second system call and its wait-queue bookkeeping on every
// command (docs/benchmarks.md). The read goes through a second open file
// description of the same pipe, opened from /proc/self/fd without
// O_NONBLOCK, so that polling reads (spin.go) stay non-blocking on the
// first.
//
// Only the loop's end interrupts that wait, for good (spinReader.interrupt):
// a byte written into the pipe through a write end opened for the moment
// wakes it, and the reader, which sees the interrupt first, never parses
// what it read. The write end is closed at once: held open, it would keep
// the pipe from ever reporting the frontend's close (EOF).

// procFD is the path through which fd's file can be opened again; a
// variable for tests, which take /proc away.
var procFD = func(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// openPlain opens the pipe read at fd again, for reading in read(2)
// without O_NONBLOCK, and checks that a write end can be opened the same
// way (nudge). It returns -1 if either cannot be done here (no /proc): the
// caller then waits in poll(2).
func openPlain(fd int) int {
	path := procFD(fd)
	w, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	unix.Close(w)
	r, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return r
}

// nudge writes one byte into the pipe read at fd, through a write end
// opened for the moment and closed at once, to wake a read(2) blocked on
// it. A full pipe takes no byte, and needs none: its reader is not
// blocked. spare, a descriptor the caller holds in reserve (-1 if none), is
// closed to make room if the process has no descriptor left for the write
// end; nudge reports whether it closed it.
func nudge(fd, spare int) (closedSpare bool) {
	path := procFD(fd)
	for {
		w, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		switch {
		case err == unix.EINTR:
			continue
		case (err == unix.EMFILE || err == unix.ENFILE) && spare >= 0 && !closedSpare:
			unix.Close(spare)
			closedSpare = true
			continue
		case err != nil:
			return closedSpare
		}
		rawWrite(w, one[:1])
		unix.Close(w)
		return closedSpare
	}
}
