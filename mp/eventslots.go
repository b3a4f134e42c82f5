package mp

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Options.Events slots of a process. Each slot has a doorbell, an
// eventfd that Set writes and Wait reads, and a word in a page of memory
// both processes map: the generation of the slot's current use, shifted
// left by eventGenShift, the count of Waits that sleep on the doorbell, and
// the flag in the low bit. Set raises the flag only if the generation is its
// own, in one compare-and-swap, so a Set for an earlier use of the slot
// never raises the flag of a later one; a doorbell it rang anyway only makes
// a Wait look at the word again. Set, and Close, ring the doorbell only if
// a Wait sleeps: a Wait counts itself in the word before it sleeps, and
// looks at the flag in the same compare-and-swap, as a futex's waiter does.
// The count is the slot's, across its uses: a slot is not reused while a
// Wait of an event closed there still sleeps (it would read the ring meant
// for the next use's Wait, or that one its own), and a Wait that wakes with
// others still asleep rings again for them.

// The parts of a slot's word.
const (
	eventSet      = 1      // the flag
	eventWaiter   = 2      // one Wait sleeping on the doorbell
	eventWaiters  = 0xfffe // their count, 32,767 at most
	eventGenShift = 16     // the generation, above
)

// eventIndexBits is how many low bits of an Event's ID hold its slot.
const eventIndexBits = 16

// maxEvents is the most Options.Events allows.
const maxEvents = 1 << eventIndexBits

type eventSlots struct {
	name    string
	front   bool
	logger  *slog.Logger
	fds     []int         // the doorbells
	files   []*os.File    // the same, not in the runtime's poller (see add)
	readers []*spinReader // the same, polled for a moment before parking (spin.go)
	words   []byte        // the shared page: one uint64 word per slot
	gone    context.Context
	goneErr func() error // why the other side is gone, once gone is done

	mu     sync.Mutex
	free   []int    // frontend: slots without an open event, used as a stack
	gens   []uint64 // frontend: the last generation of each slot
	closed bool     // frontend: the backend exited and the doorbells are closed
}

// word returns slot i's word.
func (s *eventSlots) word(i int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&s.words[8*i]))
}

// newEventSlots makes n slots for p and returns them and, for the child,
// a duplicate of each doorbell, then the shared page. The duplicates exist
// because os/exec switches the files it passes to blocking mode; see
// afterStart.
func newEventSlots(p *Process, n int) (*eventSlots, []*os.File, error) {
	s := &eventSlots{name: p.name, front: true, logger: p.log, gone: p.exited, goneErr: p.deathError, gens: make([]uint64, n)}
	var child []*os.File
	fail := func(err error) (*eventSlots, []*os.File, error) {
		s.close()
		closeAll(child)
		return nil, nil, fmt.Errorf("event slots: %w", err)
	}
	for i := range n {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return fail(fmt.Errorf("eventfd: %w", err))
		}
		if err := s.add(fd, i); err != nil {
			return fail(err)
		}
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fail(fmt.Errorf("dup: %w", err))
		}
		child = append(child, os.NewFile(uintptr(dup), "mp-event-child-"+strconv.Itoa(i)))
	}
	mfd, err := unix.MemfdCreate("mp-events", unix.MFD_CLOEXEC)
	if err != nil {
		return fail(fmt.Errorf("memfd: %w", err))
	}
	page := os.NewFile(uintptr(mfd), "mp-event-words")
	child = append(child, page)
	if err := page.Truncate(int64(8 * n)); err != nil {
		return fail(err)
	}
	if err := s.mapWords(mfd, n); err != nil {
		return fail(err)
	}
	for i := n - 1; i >= 0; i-- {
		s.free = append(s.free, i)
	}
	return s, child, nil
}

// backendEventSlots takes the n doorbells and the page the frontend passed,
// from descriptor first on.
func backendEventSlots(b *Backend, first, n int) (*eventSlots, error) {
	s := &eventSlots{name: b.name, logger: b.log, gone: b.ctx, goneErr: func() error { return ErrStopped }}
	for i := range n {
		unix.SetNonblock(first+i, true)
		if err := s.add(first+i, i); err != nil {
			return nil, err
		}
	}
	if err := s.mapWords(first+n, n); err != nil {
		return nil, err
	}
	unix.Close(first + n)
	return s, nil
}

// add takes fd as slot i's doorbell. The doorbell stays out of the
// runtime's poller: every write and read of an eventfd in an epoll set
// wakes the thread waiting in epoll_wait, for nothing but a Wait that takes
// long (see eventSlots.sleep), which registers a duplicate for itself.
func (s *eventSlots) add(fd, i int) error {
	unix.SetNonblock(fd, false) // os.NewFile polls a non-blocking descriptor
	f := os.NewFile(uintptr(fd), "mp-event-"+strconv.Itoa(i))
	unix.SetNonblock(fd, true)
	sr, err := newSpinReader(f)
	if err != nil {
		f.Close()
		return err
	}
	s.fds = append(s.fds, fd)
	s.files = append(s.files, f)
	s.readers = append(s.readers, sr)
	return nil
}

// mapWords maps the shared page of n words from fd. The mapping lasts as
// long as the slots do: an Event still held after the exit reads it.
func (s *eventSlots) mapWords(fd, n int) error {
	words, err := unix.Mmap(fd, 0, 8*n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	s.words = words
	runtime.AddCleanup(s, func(w []byte) { unix.Munmap(w) }, words)
	return nil
}

// afterStart puts the doorbells back in non-blocking mode. The mode belongs
// to the open file description, which the duplicates handed to os/exec
// share, and os/exec made it blocking; a blocking read could not be
// interrupted.
func (s *eventSlots) afterStart() {
	for _, fd := range s.fds {
		unix.SetNonblock(fd, true)
	}
}

// close closes the frontend's doorbells once the backend has exited; later
// NewEvent calls fail with ErrBackendDied. The flags stay readable: a Wait
// that comes later still sees what the backend set.
func (s *eventSlots) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	closeAll(s.files)
}

// pollable returns a duplicate of slot i's doorbell that is in the runtime's
// poller, for a wait that takes long. Its reads and deadlines work as for
// any non-blocking file; close it after the wait.
func (s *eventSlots) pollable(i int) (*os.File, error) {
	var dup int
	var err error
	if cerr := s.readers[i].rc.Control(func(fd uintptr) {
		dup, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); cerr != nil {
		return nil, os.ErrClosed
	}
	if err != nil {
		return nil, fmt.Errorf("dup: %w", err)
	}
	f := os.NewFile(uintptr(dup), "mp-event-wait-"+strconv.Itoa(i)) // non-blocking: polled
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("doorbell not pollable: %w", err)
	}
	return f, nil
}

// sleepInKernel waits for slot i's doorbell on this thread, in poll(2), for
// a wait that cannot have a pollable duplicate (no descriptor to spare): it
// needs no descriptor either (no waker), so it looks at ctx and at the other
// side every 10 ms, which also lets the slots be closed meanwhile. It
// returns when the doorbell rang, ctx ended or the other side is gone.
func (s *eventSlots) sleepInKernel(ctx context.Context, i int) error {
	for {
		rang := false
		var werr error
		if cerr := s.readers[i].rc.Control(func(fd uintptr) {
			var ok bool
			if ok, werr = waitReadable(context.Background(), int(fd), -1, 10*time.Millisecond); ok {
				var buf [8]byte
				_, err := readRetry(int(fd), buf[:])
				rang = err == nil
			}
		}); cerr != nil {
			return s.errorf("wait on event %d", i, s.goneErr())
		}
		switch {
		case rang:
			return nil
		case ctx.Err() != nil:
			return s.errorf("wait on event %d", i, context.Cause(ctx))
		case s.gone.Err() != nil:
			return s.errorf("wait on event %d", i, s.goneErr())
		case werr != nil:
			return s.errorf("wait on event %d", i, werr)
		}
	}
}
