package mp

import (
	"fmt"
	"sync"

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
// a byte written into the pipe wakes it, and the reader, which sees the
// interrupt first, never parses what it read. The byte goes through a write
// end of the backend's own, opened beside the read end when the loop
// starts, so that waking the loop needs nothing the backend may have given
// up since (its user, its root directory, its descriptor limit). Held
// open, that write end would keep the pipe from reporting the frontend's
// close (EOF): it is closed once the frontend has closed its end, which the
// backend hears on the cancel pipe (kindCommandsClosed, or the cancel pipe's
// own end when the frontend is gone).

// procFD is the path through which fd's file can be opened again; a
// variable for tests, which take /proc away.
var procFD = func(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// plainPipe is the backend's second view of its command pipe: a read end
// without O_NONBLOCK, and the write end that wakes a read blocked on it.
type plainPipe struct {
	r  int
	mu sync.Mutex
	w  int // -1 once closed (peerClosed)
}

// openPlain opens the pipe read at fd again, for reading in read(2)
// without O_NONBLOCK and for the nudge's writes; nil if either cannot be
// done here (no /proc): the caller then waits in poll(2).
func openPlain(fd int) *plainPipe {
	path := procFD(fd)
	r, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	w, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(r)
		return nil
	}
	return &plainPipe{r: r, w: w}
}

// nudge writes one byte into the pipe, to wake a read(2) blocked on it. A
// full pipe takes no byte, and needs none: its reader is not blocked. Once
// the frontend's end is closed (peerClosed) no byte is needed either: the
// read ends with the pipe.
func (p *plainPipe) nudge() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w >= 0 {
		rawWrite(p.w, one[:1])
	}
}

// peerClosed closes the nudge's write end, once the frontend has closed its
// own: the pipe then reports its end to the read.
func (p *plainPipe) peerClosed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w >= 0 {
		unix.Close(p.w)
		p.w = -1
	}
}

// release closes both ends; for tests: a backend's lives as long as it does.
func (p *plainPipe) release() {
	p.peerClosed()
	unix.Close(p.r)
}
