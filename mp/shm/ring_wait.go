package shm

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// side is what the producer and the consumer share: the ring's words, the
// eventfd this side sleeps on and the one that wakes the other side, the
// other side's sleeping flag, a private eventfd that interrupts a sleep
// (Close, a context), and the watch on the other process.
//
// A side sleeps only after it has set its waiting flag and looked at the
// ring once more; the other side, after every commit or release, loads
// that flag and writes the eventfd only when it is set. A fence between
// each side's store and its load makes one of the two see the other's
// store (ring_fence.go: the sleeper's membarrier, or the publisher's
// sequentially consistent store): no wake-up is lost, and none is sent
// while both sides are busy.
type side struct {
	r             *Ring
	w             *words
	sleepFD       int
	wakeFD        int
	cancelFD      int
	waiting       *atomic.Uint32 // ours
	peerWaiting   *atomic.Uint32 // the other side's
	ownFenceless  *atomic.Uint32 // ours, in the header
	peerFenceless *atomic.Uint32 // the other side's: fence before sleeping
	fenceless     bool           // this process publishes without a fence
	peer          *peer
	spin          poller
	closed        atomic.Bool
	what          string // "producer" or "consumer", for errors
}

func (s *side) errorf(format string, args ...any) error {
	return fmt.Errorf("shm: ring %q %s: "+format, append([]any{s.r.name, s.what}, args...)...)
}

// wake wakes the other side if it sleeps.
func (s *side) wake() {
	if s.peerWaiting.Load() != 0 && s.peerWaiting.Swap(0) != 0 {
		signal(s.wakeFD)
	}
}

// signal adds one to the eventfd fd.
func signal(fd int) {
	one := [8]byte{1}
	for {
		if _, err := unix.Write(fd, one[:]); err != unix.EINTR {
			return
		}
	}
}

// drain resets the eventfd fd (non-blocking).
func drain(fd int) {
	var buf [8]byte
	for {
		if _, err := unix.Read(fd, buf[:]); err != unix.EINTR {
			return
		}
	}
}

// interrupt ends a sleep of this side from another goroutine.
func (s *side) interrupt() { signal(s.cancelFD) }

// wait returns when try reports true or an error: first polling for a
// while (see poller), then sleeping in poll(2) on this side's eventfd, the
// other process's pidfd and the cancel eventfd. It fails with ctx's error
// when ctx ends, ErrRingClosed when this side is closed, and an error
// wrapping ErrPeerDied when the other process died; try is asked once more
// before that, so that what the peer committed before dying is not lost.
func (s *side) wait(ctx context.Context, try func() (bool, error)) error {
	if ok, err := s.spin.poll(try); ok || err != nil {
		if ok {
			s.spin.done()
		}
		return err
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, s.interrupt)
		defer stop()
	}
	for {
		s.waiting.Store(1)
		timeout := -1
		if s.peerFenceless.Load() != 0 && !fenceOthers() {
			// The other side publishes without a fence and this
			// process cannot run one on its CPU: a wake-up may be
			// lost, so the sleep is bounded.
			timeout = 1
		}
		ok, err := try()
		if ok || err != nil {
			s.waiting.Store(0)
			if ok {
				s.spin.done()
			}
			return err
		}
		if err := s.interrupted(ctx); err != nil {
			s.waiting.Store(0)
			return err
		}
		pidfd, err := s.peer.fd()
		if err != nil {
			s.waiting.Store(0)
			if ok, err2 := try(); ok || err2 != nil {
				return err2
			}
			return s.errorf("%w", err)
		}
		fds := []unix.PollFd{{Fd: int32(s.sleepFD), Events: unix.POLLIN}, {Fd: int32(s.cancelFD), Events: unix.POLLIN}}
		if pidfd >= 0 {
			fds = append(fds, unix.PollFd{Fd: int32(pidfd), Events: unix.POLLIN})
		}
		if _, err := unix.Poll(fds, timeout); err != nil && !errors.Is(err, unix.EINTR) {
			s.waiting.Store(0)
			return s.errorf("poll: %w", err)
		}
		// The flag stays set while this side loops: the other side
		// clears it when it wakes us (after it published), and decides
		// by it whether to publish at once (a consumer's batched
		// releases). Cleared here, a wake-up that was not the other
		// side's (a signal, the 1 ms bound) opened a window in which a
		// release was kept back while this side went to sleep again.
		drain(s.sleepFD)
		if fds[1].Revents != 0 {
			drain(s.cancelFD)
		}
		if len(fds) == 3 && fds[2].Revents != 0 {
			s.peer.died(s.peer.pid.Load(), "exited")
		}
	}
}

// interrupted returns why a wait must end early, or nil.
func (s *side) interrupted(ctx context.Context) error {
	if s.closed.Load() {
		return s.errorf("%w", ErrRingClosed)
	}
	if err := ctx.Err(); err != nil {
		return s.errorf("%w", context.Cause(ctx))
	}
	return nil
}

// attach takes this side for this process: its PID and start time go into
// the header, for the other side to watch, and the other side is woken
// (it may sleep waiting for somebody to attach). A side held by another
// live process is ErrBusy.
func (s *side) attach(pid, start *atomic.Uint64) error {
	self := uint64(unixGetpid())
	if other := pid.Load(); other != 0 && other != self {
		holder := newPeer(pid, start)
		err := holder.check()
		holder.close()
		if err == nil {
			return s.errorf("%w: process %d has it", ErrBusy, other)
		}
	}
	st, err := startTime(int(self))
	if err != nil {
		return s.errorf("read this process's start time: %w", err)
	}
	var fl uint32
	if s.fenceless {
		fl = 1
	}
	s.ownFenceless.Store(fl)
	start.Store(st)
	pid.Store(self)
	signal(s.wakeFD)
	return nil
}

// close closes this side once: it interrupts a sleep, runs mark (which
// tells the other side, in the header), and wakes the other side.
func (s *side) close(mark func()) error {
	if s.closed.Swap(true) {
		return s.errorf("%w", ErrRingClosed)
	}
	s.interrupt()
	mark()
	signal(s.wakeFD)
	return nil
}
