package shm

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	ownClosed     *atomic.Uint32 // ours: this side closed (in the header)
	peerWaiting   *atomic.Uint32 // the other side's
	ownFenceless  *atomic.Uint32 // ours, in the header
	peerFenceless *atomic.Uint32 // the other side's: fence before sleeping
	fenceless     bool           // this process publishes without a fence
	peer          *peer
	spin          poller
	closed        atomic.Bool
	guarded       bool   // the ring's memory may shrink: see ring_guard.go
	what          string // "producer" or "consumer", for errors

	// held is 1 while this side's goroutine has a slot reserved (from
	// Reserve to Commit) or a frame taken (from Next to Release), set
	// before its look at closed: a Close beside it leaves the giving up
	// of the side to it (see giveUp). Written by that goroutine only.
	held uint32
	// slow is held by the calls that may wait (reserve, next), so that
	// Close, once it has interrupted them, waits for them to return.
	slow sync.Mutex
	// The side's PID word and what attach stored there; takes counts the
	// producer's takes (nil for the consumer). gaveUp: giveUp has cleared
	// the holder; the Ring may hand the side out again.
	ownPID *atomic.Uint64
	self   uint64
	takes  *atomic.Uint32
	settle func() // run by giveUp before the PID goes (the consumer's flush)
	giving sync.Once
	gaveUp atomic.Bool
}

func (s *side) errorf(format string, args ...any) error {
	return fmt.Errorf("shm: ring %q %s: "+format, append([]any{s.r.name, s.what}, args...)...)
}

// wake wakes the other side if it sleeps. It comes after what this side
// published: see the comment on side.
func (s *side) wake() {
	if beforeLook != nil {
		beforeLook(s)
	}
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
		return err // a poll that succeeded recorded the arrival itself
	}
	if ctx.Done() != nil {
		// An interrupt that has begun when the wait ends is waited for:
		// run later, it would write to the cancel eventfd after the side
		// (and the descriptor) had been closed, into whatever file has
		// its number by then (a new ring's segment, its magic overwritten).
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			if beforeInterrupt != nil {
				beforeInterrupt()
			}
			s.interrupt()
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired
			}
		}()
	}
	for {
		s.waiting.Store(1)
		timeout := s.sleepBound()
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
		// The flag stays set while this side loops: the other side
		// clears it when it wakes us (after it published), and decides
		// by it whether to publish at once (a consumer's batched
		// releases). A wake-up that is not the other side's (a signal,
		// the 1 ms bound) must not clear it: a release made while it
		// was clear would be kept back while this side sleeps again.
		if err := s.sleep(pidfd, timeout); err != nil {
			s.waiting.Store(0)
			return err
		}
	}
}

// sleepBound runs the fence that must come between this side's store of
// its waiting flag and its last look at the ring (ring_fence.go), when the
// other side publishes without one, and returns how long the sleep after
// that look may last, in milliseconds for poll(2), -1 for as long as it
// takes: 1 ms when the other side publishes without a fence and this
// process cannot run one on its CPU (then a wake-up may be lost, and the
// next look finds what it missed).
func (s *side) sleepBound() int {
	if s.peerFenceless.Load() != 0 && !fenceOthers() {
		return 1
	}
	return -1
}

// sleep waits in poll(2) for this side's eventfd, the cancel eventfd and
// the other process's pidfd (if pidfd >= 0), for at most timeout
// milliseconds (-1: no bound), and resets the eventfds it found written.
// The other process's exit is recorded in s.peer.
func (s *side) sleep(pidfd, timeout int) error {
	fds := []unix.PollFd{{Fd: int32(s.sleepFD), Events: unix.POLLIN}, {Fd: int32(s.cancelFD), Events: unix.POLLIN}}
	if pidfd >= 0 {
		fds = append(fds, unix.PollFd{Fd: int32(pidfd), Events: unix.POLLIN})
	}
	if beforeSleep != nil {
		beforeSleep(s, timeout)
	}
	if _, err := unix.Poll(fds, timeout); err != nil && !errors.Is(err, unix.EINTR) {
		return s.errorf("poll: %w", err)
	}
	drain(s.sleepFD)
	if fds[1].Revents != 0 {
		drain(s.cancelFD)
	}
	if len(fds) == 3 && fds[2].Revents != 0 {
		s.peer.died(s.peer.watched, "exited")
	}
	if afterWake != nil {
		afterWake(s)
	}
	return nil
}

// beforeLook, if set, runs in wake between what a side published and its
// look at the other side's waiting flag: a test's way to let the other
// side go to sleep, or take what was published, in between.
var beforeLook func(s *side)

// beforeSleep and afterWake, if set, run in sleep just before poll(2) and
// when the side woke, just before it looks again: a test's way to act
// while a side sleeps, or between its wake-up and its next look.
var (
	beforeSleep func(s *side, timeout int)
	afterWake   func(s *side)
)

// checkHolder reports whether a side's holder is alive (nil), dead
// (ErrPeerDied), or could not be checked; a variable for tests.
var checkHolder = (*peer).check

// beforeInterrupt, if set, runs when a wait's ctx has ended, before the
// wait is interrupted; for tests, which hold the interrupt there.
var beforeInterrupt func()

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

// attach takes this side for this process: its closed flag is cleared
// (a predecessor's close ended its own use of the side, not the side's),
// its PID and start time go into the header, for the other side to watch,
// and the other side is woken (it may sleep waiting for somebody to
// attach). A side held by another
// live process is ErrBusy, and so is a side this process holds through
// another Ring on the same segment (an earlier process that had this PID
// started at another time, and is gone). The check and the take run under
// the side's claim (ring_claim.go); so does resume, which reads (and may
// change) the ring's counters for this side, run once the side is known
// free: its error refuses the side.
func (s *side) attach(pid, start *atomic.Uint64, resume func() error) error {
	self := uint64(unixGetpid())
	st, err := startTime(int(self))
	if err != nil {
		return s.errorf("read this process's start time: %w", err)
	}
	release, err := s.claim(pid)
	if err != nil {
		return err
	}
	defer release()
	if other := pid.Load(); other == self && start.Load() == st {
		return s.errorf("%w: this process has it, through another Ring", ErrBusy)
	} else if other != 0 && other != self {
		holder := newPeer(pid, start)
		err := checkHolder(holder)
		holder.close()
		switch {
		case err == nil:
			return s.errorf("%w: process %d has it", ErrBusy, other)
		case !errors.Is(err, ErrPeerDied):
			// Not known to be gone (no descriptor to spare, say): the
			// side is not taken from a holder that may be alive.
			return s.errorf("check whether process %d, which has the side, is alive: %w", other, err)
		}
	}
	if beforeTake != nil {
		beforeTake()
	}
	if err := resume(); err != nil {
		return err
	}
	var fl uint32
	if s.fenceless {
		fl = 1
	}
	s.ownFenceless.Store(fl)
	if s.takes != nil {
		s.takes.Add(1)
	}
	s.ownClosed.Store(0)
	start.Store(st)
	pid.Store(self)
	s.ownPID, s.self = pid, self
	signal(s.wakeFD)
	return nil
}

// close closes this side once: it interrupts a sleep, runs mark (which
// tells the other side, in the header), wakes the other side, and gives
// the side up (giveUp) unless another goroutine holds a slot or a frame of
// it: then that goroutine's next call gives it up. A fault in mark is its
// error; the side is closed all the same.
//
// The swap of closed below and the look at held that follows it pair with
// the side's goroutine's store of held and its look at closed (Reserve,
// Commit, Next, Release): one of the two sees the other's store, as with
// the waiting flags (ring_fence.go): the swap is a full fence, and when
// this process stores held without one (setHeld), the membarrier here runs
// one on that goroutine's CPU. So either this sees held set, or that
// goroutine sees the side closed before it touches the ring again.
func (s *side) close(mark func()) error {
	if s.closed.Swap(true) {
		return s.errorf("%w", ErrRingClosed)
	}
	s.interrupt()
	if s.fenceless {
		fenceOthers()
	}
	_, err := protectSide(s, "close", func() (struct{}, error) { mark(); return struct{}{}, nil })
	signal(s.wakeFD)
	// A wait that the interrupt ended has returned once this lock is ours.
	if closeAwaitsSlow != nil {
		closeAwaitsSlow(s)
	}
	s.slow.Lock()
	held := atomic.LoadUint32(&s.held)
	s.slow.Unlock()
	if held == 0 {
		s.giveUp()
	}
	return err
}

// retire closes what this side holds in this process (its cancel eventfd
// and its watch on the other process): at Ring.Close, or when the Ring
// hands out the side again once it was given up, when no goroutine waits
// on them any more.
func (s *side) retire() {
	s.peer.close()
	unix.Close(s.cancelFD)
}

// closeAwaitsSlow and beforeGiveUp, if set, run in close before it waits
// for the side's slow calls, and in giveUp before it clears the PID: a
// test's way to see in which order a Close and an interrupted wait go.
var (
	closeAwaitsSlow func(s *side)
	beforeGiveUp    func(s *side)
)

// setHeld stores held: a plain store when this process publishes without
// fences (close's membarrier orders it), a sequentially consistent one
// otherwise.
func (s *side) setHeld(v uint32) {
	if s.fenceless {
		storeFlag(&s.held, v)
	} else {
		atomic.StoreUint32(&s.held, v)
	}
}

// giveUp clears this side's PID in the header, once, if it is still this
// process's: the side is then free for any process to take, this one
// included (Ring.Producer, Ring.Consumer). Only the PID word is cleared,
// with a compare-and-swap: a taker that read this PID is told the side is
// busy (the holder's check then finds no PID, or this live process), one
// that read 0 stores its start time and then its PID, which nothing here
// overwrites. The side's goroutine calls it too, when it finds the side
// closed while it held a slot or a frame (close left the giving up to it),
// and it touches the ring no more afterwards.
func (s *side) giveUp() {
	s.giving.Do(func() {
		if beforeGiveUp != nil {
			beforeGiveUp(s)
		}
		if s.ownPID != nil {
			protectSide(s, "close", func() (struct{}, error) {
				if s.settle != nil {
					s.settle()
				}
				s.ownPID.CompareAndSwap(s.self, 0)
				return struct{}{}, nil
			})
		}
		s.gaveUp.Store(true)
	})
}
