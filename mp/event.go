package mp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// EventGroup is a fixed group of cross-process events shared by a frontend
// and its backend: the frontend reserves an event, sends its index inside a
// message, and waits; the backend sets the event by index
// (Backend.SetEvent). Each event is a Linux eventfd, created by the frontend
// before the backend starts and inherited by it; the group exists when
// Options.Events > 0 and is returned by Process.Events.
//
// A wait never hangs forever: it returns when the event is set, when the
// backend dies, or when the caller's context ends. Reserve, Release and Wait
// are safe for concurrent use; each reserved event has one waiter at a time.
type EventGroup struct {
	p       *Process
	files   []*os.File    // our eventfds: non-blocking, read through the runtime poller
	readers []*spinReader // the same, polled for a moment before parking (spin.go)
	fds     []int         // the same descriptors, for draining without the poller

	mu       sync.Mutex
	free     []int // indices of unreserved events, used as a stack
	reserved []bool
	closed   bool
	latched  []bool // once closed: which events were set when the backend exited
}

// newEventGroup makes n eventfds and returns the group and, for the child,
// a duplicate of each. The duplicates exist because os/exec switches the
// files it passes to blocking mode; see afterStart.
func newEventGroup(p *Process, n int) (*EventGroup, []*os.File, error) {
	g := &EventGroup{p: p, reserved: make([]bool, n)}
	var child []*os.File
	for i := range n {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			g.close()
			closeAll(child)
			return nil, nil, fmt.Errorf("mp: event group of %d: eventfd: %w", n, err)
		}
		g.fds = append(g.fds, fd)
		f := os.NewFile(uintptr(fd), "mp-event-"+strconv.Itoa(i))
		g.files = append(g.files, f)
		sr, err := newSpinReader(f)
		if err != nil {
			g.close()
			closeAll(child)
			return nil, nil, fmt.Errorf("mp: event group of %d: %w", n, err)
		}
		g.readers = append(g.readers, sr)
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			g.close()
			closeAll(child)
			return nil, nil, fmt.Errorf("mp: event group of %d: dup: %w", n, err)
		}
		child = append(child, os.NewFile(uintptr(dup), "mp-event-child-"+strconv.Itoa(i)))
	}
	for i := n - 1; i >= 0; i-- {
		g.free = append(g.free, i)
	}
	return g, child, nil
}

// afterStart puts the eventfds back in non-blocking mode. The mode belongs to
// the open file description, which the duplicates handed to os/exec share,
// and os/exec made it blocking; a blocking read could not be interrupted.
func (g *EventGroup) afterStart() {
	for _, fd := range g.fds {
		unix.SetNonblock(fd, true)
	}
}

// Len returns the number of events in the group.
func (g *EventGroup) Len() int { return len(g.reserved) }

// Reserve reserves a free event and returns its index, cleared of any
// earlier setting. It fails with ErrNoFreeEvent when every event is reserved,
// and with ErrBackendDied once the backend has exited.
func (g *EventGroup) Reserve() (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return -1, fmt.Errorf("mp: reserve event of %q: %w", g.p.name, ErrBackendDied)
	}
	if len(g.reserved) == 0 {
		return -1, fmt.Errorf("mp: reserve event of %q: it has no events (Options.Events is 0): %w", g.p.name, ErrNoFreeEvent)
	}
	if len(g.free) == 0 {
		return -1, fmt.Errorf("mp: reserve event of %q: all %d reserved: %w", g.p.name, len(g.reserved), ErrNoFreeEvent)
	}
	i := g.free[len(g.free)-1]
	g.free = g.free[:len(g.free)-1]
	g.reserved[i] = true
	g.drain(i)
	return i, nil
}

// drain clears event i; a late set from a previous use must not satisfy the
// next wait. g.mu must be held and the group open.
func (g *EventGroup) drain(i int) {
	var buf [8]byte
	unix.Read(g.fds[i], buf[:]) // EAGAIN when not set: nothing to clear
}

// Release returns event i to the group. Releasing an event that is not
// reserved fails with ErrEventNotReserved, and an index outside the group
// with ErrEventIndex.
func (g *EventGroup) Release(i int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i < 0 || i >= len(g.reserved) {
		return fmt.Errorf("mp: release event %d of a group of %d: %w", i, len(g.reserved), ErrEventIndex)
	}
	if !g.reserved[i] {
		return fmt.Errorf("mp: release event %d: %w", i, ErrEventNotReserved)
	}
	g.reserved[i] = false
	g.free = append(g.free, i)
	return nil
}

// Wait waits until the backend sets event i, which must be reserved. It
// returns an error wrapping ErrBackendDied as soon as the backend exits
// without having set it, and ctx's error if ctx ends first.
func (g *EventGroup) Wait(ctx context.Context, i int) error {
	g.mu.Lock()
	switch {
	case i < 0 || i >= len(g.reserved):
		g.mu.Unlock()
		return fmt.Errorf("mp: wait on event %d of a group of %d: %w", i, len(g.reserved), ErrEventIndex)
	case !g.reserved[i]:
		g.mu.Unlock()
		return fmt.Errorf("mp: wait on event %d: %w", i, ErrEventNotReserved)
	}
	g.mu.Unlock()

	// The read below goes through the runtime poller. The backend's death
	// and ctx interrupt it by moving its deadline into the past.
	f := g.files[i]
	var once sync.Once
	interrupted := false
	interrupt := func() {
		once.Do(func() { interrupted = true; f.SetReadDeadline(longAgo) })
	}
	stopDeath := context.AfterFunc(g.p.exited, interrupt)
	stopCtx := func() bool { return true }
	if ctx.Done() != nil {
		stopCtx = context.AfterFunc(ctx, interrupt)
	}
	var buf [8]byte
	_, err := g.readers[i].Read(buf[:])
	stopDeath()
	stopCtx()
	once.Do(func() {}) // wait for an interrupt in progress; disable later ones
	if interrupted {
		f.SetReadDeadline(time.Time{})
	}
	if err == nil {
		return nil
	}
	// Interrupted, or the group was closed because the backend exited. The
	// event may still have been set just before: check once more.
	if g.trySet(i) {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("mp: wait on event %d of %q: %w", i, g.p.name, context.Cause(ctx))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("mp: wait on event %d of %q: %w", i, g.p.name, inner{g.p.deathError()})
	}
	return fmt.Errorf("mp: wait on event %d of %q: %w", i, g.p.name, inner{err})
}

// trySet consumes event i if it is set, without blocking. Once the group is
// closed, the setting it had when the backend exited counts.
func (g *EventGroup) trySet(i int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		set := g.latched[i]
		g.latched[i] = false
		return set
	}
	var buf [8]byte
	n, err := unix.Read(g.fds[i], buf[:])
	return err == nil && n == 8
}

// close closes the frontend's eventfds once the backend has exited; later
// Reserve calls fail with ErrBackendDied. What the backend set before it
// exited is kept: a Wait that comes later still sees it.
func (g *EventGroup) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.latched = make([]bool, len(g.fds))
	for i, fd := range g.fds {
		var buf [8]byte
		n, err := unix.Read(fd, buf[:])
		g.latched[i] = err == nil && n == 8
	}
	g.closed = true
	closeAll(g.files)
}
