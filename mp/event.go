package mp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Event is a flag shared by a frontend and its backend, in the manner of
// Python's multiprocessing.Event: Set raises it, Clear lowers it, IsSet reads
// it and Wait waits until it is raised. The frontend makes one with
// Process.NewEvent and sends its ID in a message; the backend gets its side
// with Backend.Event. Close, on the frontend, gives its slot back.
//
// An event belongs to one use: a Set meant for an event that was closed
// never raises an event made later in the same slot. A Wait returns when the
// event is set, when the other side is gone, or when its context ends. Its
// methods are safe for concurrent use; a Set wakes every Wait in progress,
// on either side.
type Event struct {
	s      *eventSlots
	i      int    // the slot
	gen    uint64 // the use of the slot this event is
	closed atomic.Bool
}

// ID returns what the other side passes to Backend.Event: the slot and the
// use of it, in one int.
func (e *Event) ID() int { return int(e.gen<<eventIndexBits | uint64(e.i)) }

// Set raises the event and wakes its waiter. Setting an event already set
// does nothing, and so does setting one whose slot was closed by the
// frontend (the event is gone, its slot may serve another event already).
func (e *Event) Set() error {
	w := e.s.word(e.i)
	for {
		cur := w.Load()
		switch {
		case cur>>eventGenShift != e.gen:
			e.s.log("set of a closed event ignored", e)
			return nil
		case cur&eventSet != 0:
			return nil
		case w.CompareAndSwap(cur, cur|eventSet):
			if cur&eventWaiters == 0 {
				return nil // no Wait sleeps: the next to look sees the flag
			}
			return e.s.ring(e.i)
		}
	}
}

// Clear lowers the event: a Wait that follows waits for the next Set.
func (e *Event) Clear() {
	w := e.s.word(e.i)
	for {
		cur := w.Load()
		if cur>>eventGenShift != e.gen || cur&eventSet == 0 || w.CompareAndSwap(cur, cur&^eventSet) {
			return
		}
	}
}

// IsSet reports whether the event is set.
func (e *Event) IsSet() bool {
	return e.s.word(e.i).Load()&^eventWaiters == e.gen<<eventGenShift|eventSet
}

// gone reports whether the event was closed, on either side: Close gives
// its slot a new generation at once (eventSlots.release).
func (e *Event) gone() bool {
	return e.closed.Load() || e.s.word(e.i).Load()>>eventGenShift != e.gen
}

// Wait waits until the event is set. It returns at once if it is set
// already, an error wrapping ErrBackendDied (on the frontend; ErrStopped if
// the process was stopped, by Close say) or ErrStopped (on the backend)
// once the other side is gone without having set it, and ctx's error if ctx
// ends first. Wait on a closed event fails with an error wrapping
// os.ErrClosed ("event is closed").
func (e *Event) Wait(ctx context.Context) error {
	for {
		if e.IsSet() {
			return nil
		}
		if e.gone() {
			return e.s.errorf("wait on event %d", e.i, errEventClosed{})
		}
		if ok, err := e.s.sleeping(e.i, e.gen); err != nil {
			return e.s.errorf("wait on event %d", e.i, err)
		} else if !ok {
			continue // set or closed meanwhile: look again
		}
		err := e.s.sleep(ctx, e.i)
		if e.s.awake(e.i) && (e.IsSet() || e.gone()) {
			// The ring that woke this Wait may have been meant for
			// another asleep on the same doorbell too: pass it on.
			e.s.ring(e.i)
		}
		if err != nil {
			if e.IsSet() {
				return nil
			}
			return err
		}
	}
}

// Close gives the event's slot back for a later Process.NewEvent; a Set
// that comes later, for this event, is ignored, and a Wait in progress, on
// either side, returns an error wrapping os.ErrClosed. Closing an event
// twice, or on the backend, does nothing.
func (e *Event) Close() error {
	if e.s.front && e.closed.CompareAndSwap(false, true) && e.s.release(e.i) {
		e.s.ring(e.i) // wake a Wait in progress, here or in the backend
	}
	return nil
}

// NewEvent returns a new event, cleared, in one of the process's
// Options.Events slots. It fails with ErrNoFreeEvent when every slot holds
// an event that is not closed, or a closed one whose Wait has not woken yet
// (its process stopped, say), with ErrBackendDied once the backend has
// exited, and with ErrStopped once the process was stopped (Close).
func (p *Process) NewEvent() (*Event, error) {
	if p.events == nil {
		return nil, opError("new event", p.name, fmt.Errorf("%w (Options.Events is 0)", ErrNoFreeEvent))
	}
	return p.events.reserve()
}

// Event returns the backend's side of the event whose ID the frontend sent.
// It fails with ErrEventIndex for an ID that names no slot of the process.
func (b *Backend) Event(id int) (*Event, error) {
	i, gen := id&(1<<eventIndexBits-1), uint64(id)>>eventIndexBits
	if b.events == nil || id < 0 || i >= len(b.events.fds) || gen == 0 {
		n := 0
		if b.events != nil {
			n = len(b.events.fds)
		}
		return nil, opError(fmt.Sprintf("event %d", id), b.name, fmt.Errorf("not one of the %d events of the process: %w", n, ErrEventIndex))
	}
	return &Event{s: b.events, i: i, gen: gen}, nil
}

// sleep waits for event i's doorbell to ring, until ctx ends or the other
// side is gone.
func (s *eventSlots) sleep(ctx context.Context, i int) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return s.errorf("wait on event %d", i, s.goneErr())
	}
	// A doorbell that rings soon is read polling, or waiting in the
	// kernel (block.go); one that does not ring soon, through the runtime
	// poller, where the other side's end and ctx interrupt the read by
	// moving its deadline into the past. The doorbell itself is not in the
	// poller (see add): a duplicate is, for this wait.
	var buf [8]byte
	if _, done, err := s.readers[i].readSoon(ctx, buf[:]); done && err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return s.errorf("wait on event %d", i, context.Cause(ctx))
	}
	f, err := s.pollable(i)
	switch {
	case errors.Is(err, os.ErrClosed): // the backend exited: see close
		return s.errorf("wait on event %d", i, s.goneErr())
	case err != nil:
		// No descriptor to spare (EMFILE): wait on this thread.
		return s.sleepInKernel(ctx, i)
	}
	defer f.Close()
	interrupt := func() { f.SetReadDeadline(longAgo) }
	stopGone := context.AfterFunc(s.gone, interrupt)
	defer stopGone()
	if ctx.Done() != nil {
		defer context.AfterFunc(ctx, interrupt)()
	}
	_, err = f.Read(buf[:])
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return s.errorf("wait on event %d", i, context.Cause(ctx))
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed):
		return s.errorf("wait on event %d", i, s.goneErr())
	}
	return s.errorf("wait on event %d", i, err)
}

// ring writes event i's doorbell.
func (s *eventSlots) ring(i int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil // nobody waits any more; the flag is set
	}
	one := [8]byte{1}
	for {
		_, err := unix.Write(s.fds[i], one[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return s.errorf("set event %d", i, err)
		}
		return nil
	}
}

// reserve takes a free slot and starts its next use, cleared.
func (s *eventSlots) reserve() (*Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, s.errorf("new event", -1, s.goneErr())
	}
	// A slot whose closed event still has a Wait asleep on its doorbell
	// is not free yet: the next use's Wait could read the ring meant to
	// end that one, and sleep again.
	k := len(s.free) - 1
	for k >= 0 && s.word(s.free[k]).Load()&eventWaiters != 0 {
		k--
	}
	if k < 0 {
		return nil, s.errorf("new event", -1, fmt.Errorf("all %d in use (%d closed, with a Wait still ending): %w", len(s.fds), len(s.free), ErrNoFreeEvent))
	}
	i := s.free[k]
	s.free = append(s.free[:k], s.free[k+1:]...)
	s.gens[i]++
	// A Set for an earlier use compares its generation with this one and
	// gives up; its doorbell, if it rang, only makes a Wait look again.
	s.word(i).Store(s.gens[i] << eventGenShift)
	return &Event{s: s, i: i, gen: s.gens[i]}, nil
}

// release gives slot i back, ending its use: the slot's word takes the
// next generation, cleared, so that a Set or a Wait of the use that ended,
// on either side, sees it gone; the count of Waits asleep stays. It
// reports whether a Wait was asleep (or about to be): its doorbell must
// ring.
func (s *eventSlots) release(i int) (waited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gens[i]++
	w := s.word(i)
	for {
		old := w.Load()
		if w.CompareAndSwap(old, s.gens[i]<<eventGenShift|old&eventWaiters) {
			s.free = append(s.free, i)
			return old&eventWaiters != 0
		}
	}
}

// errTooManyWaits says that a Wait found the count of Waits asleep on its
// slot's doorbell full.
var errTooManyWaits = fmt.Errorf("%d Waits asleep on one event already", eventWaiters/eventWaiter)

// sleeping counts a Wait of use gen as asleep on slot i's doorbell, and
// reports whether it did: not once the use is set or gone (the Wait then
// looks again instead of sleeping). The count is the slot's, whatever the
// use: a Wait of a use that ended still counts until it wakes (see
// reserve).
func (s *eventSlots) sleeping(i int, gen uint64) (bool, error) {
	w := s.word(i)
	for {
		cur := w.Load()
		switch {
		case cur>>eventGenShift != gen || cur&eventSet != 0:
			return false, nil
		case cur&eventWaiters == eventWaiters:
			return false, errTooManyWaits
		case w.CompareAndSwap(cur, cur+eventWaiter):
			return true, nil
		}
	}
}

// awake takes back a Wait that sleeping counted, and reports whether other
// Waits are still asleep on the doorbell.
func (s *eventSlots) awake(i int) (others bool) {
	return s.word(i).Add(^uint64(eventWaiter-1))&eventWaiters != 0
}

// errorf returns an error of the event slots' process for op; op may hold
// one %d, for i.
func (s *eventSlots) errorf(op string, i int, err error) error {
	name := ""
	if s != nil {
		name = s.name
	}
	if i >= 0 {
		op = fmt.Sprintf(op, i)
	}
	return opError(op, name, err)
}

func (s *eventSlots) log(msg string, e *Event) {
	if s.logger != nil {
		s.logger.Debug(msg, "event", e.i)
	}
}

// errEventClosed is why a Wait on a closed event fails: it says so, and is
// os.ErrClosed for errors.Is, as a closed file's read is.
type errEventClosed struct{}

func (errEventClosed) Error() string        { return "event is closed" }
func (errEventClosed) Is(target error) bool { return target == os.ErrClosed }
