// Package spin decides how long a waiter polls before it sleeps: the
// message path's readers and waiters (package mp) and the shared-memory
// ring's sides (mp/shm) use it.
//
// Waking a sleeping thread on another CPU costs more than what it waits
// for: on the 2-CPU virtual machine this project is measured on, a
// blocking pipe round trip takes ~9 µs, but ~2 µs when both sides poll the
// pipe for a moment before sleeping, and a ring's frame arrives in ~100 ns
// when its consumer polls. So a waiter that has just seen data polls for a
// short window before it sleeps. The window adapts to how long data takes
// to come: when polling gave up and data came soon after, the next window
// is half as long again as that wait (up to MaxWindow); when it came much
// later, the window halves (down to MinWindow). A pause between two polls
// longer than Preempted drops the window to MinWindow: the kernel gave the
// thread's CPU to another thread, or other goroutines ran that long in
// between, which a poller cannot tell apart.
//
// Nothing is polled when no data came for longer than Recently (so an idle
// process uses no CPU), when MP_SPIN=0 (read once, at start), or while the
// machine is busy: when a poller of the process lost its CPU for as long
// as a scheduler time slice (LostCPU) within the last Busy. On such a
// machine more threads want to run than there are CPUs, and a thread that
// polls takes the CPU its peer needs. Short preemptions do not count: on a
// quiet machine the peer's own wake-ups preempt a poller thousands of
// times a second, for microseconds each.
package spin

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mpgo/mp/internal/env"
)

// The polling window's bounds and the pauses that end it; see the package
// comment.
const (
	MinWindow = 2 * time.Microsecond
	MaxWindow = 50 * time.Microsecond
	Recently  = time.Millisecond
	// Preempted is a pause between two polls too long for a poll alone
	// (which takes well under a microsecond).
	Preempted = 20 * time.Microsecond
	// LostCPU is a pause between two polls as long as a time slice of
	// Linux's scheduler (0.75–3 ms, sched/base_slice_ns): another thread
	// ran on the poller's CPU meanwhile.
	LostCPU = 500 * time.Microsecond
	// Busy is how long the process polls no more after a poller lost its
	// CPU.
	Busy = 50 * time.Millisecond
)

// off is MP_SPIN=0 (or false), read once; tests turn it with SetOff while
// goroutines of earlier tests may still read it, hence the atomic.
var off atomic.Bool

func init() {
	on, _ := env.Bool("MP_SPIN", true)
	off.Store(!on)
}

// Off reports whether polling is off: MP_SPIN=0 (or false) in the
// environment when the process started, or SetOff(true) since.
func Off() bool { return off.Load() }

// SetOff turns polling off (true) or on, and returns the previous setting;
// for tests.
func SetOff(v bool) (old bool) { return off.Swap(v) }

var clockStart = time.Now()

// Now is the clock pollers use, in nanoseconds since the process started
// (never 0 after the first nanosecond); a variable for tests.
var Now = func() int64 { return int64(time.Since(clockStart)) }

// lost is when a poller of this process last lost its CPU (see LostCPU),
// 0 if none has.
var lost atomic.Int64

// Spinner holds one waiter's polling window. Its methods are safe for
// concurrent use, though a window adapts best to one waiter at a time.
type Spinner struct {
	window atomic.Int64 // the polling window, in nanoseconds
	last   atomic.Int64 // when data last arrived
	parked atomic.Int64 // when polling last gave up, 0 once data came
	batch  int          // tries between two readings of the clock
	yield  bool         // runtime.Gosched before each batch
}

// New returns a Spinner that tries batch times (at least once) between two
// readings of the clock, and yields the processor (runtime.Gosched) before
// each batch if yield is set. The message path tries once and yields: a
// try is a system call, and the goroutine it just handed a message to
// should run. The ring tries 16 times and does not yield: a try is a load
// from memory, and a yield costs more than the frame (~30 ns) and may wake
// another thread; a window is 50 µs at most.
func New(batch int, yield bool) *Spinner {
	s := &Spinner{batch: max(batch, 1), yield: yield}
	s.window.Store(int64(MaxWindow))
	return s
}

// Arrived records that data came (the wait ended), adapting the window.
func (s *Spinner) Arrived() {
	if Off() {
		return // no window to adapt
	}
	now := Now()
	if parked := s.parked.Swap(0); parked != 0 {
		// Polling gave up, then the data came: had it come soon after,
		// a longer window would have caught it; poll that long next
		// time. Otherwise polling was wasted: halve the window.
		if late := now - parked; late < int64(MaxWindow) {
			s.window.Store(min(max(late*3/2, int64(MinWindow)), int64(MaxWindow)))
		} else {
			s.window.Store(max(s.window.Load()/2, int64(MinWindow)))
		}
	}
	s.last.Store(now)
}

// Poll calls try until it returns true or the window ends, and reports
// whether try returned true; when it did, Poll has recorded the arrival as
// Arrived would (the caller need not call Arrived too). It does not call
// try at all when polling is off, no data came recently or the machine is
// busy (see the package comment).
func (s *Spinner) Poll(try func() bool) bool {
	if Off() {
		return false
	}
	now := Now()
	if !s.polls(now) {
		return false
	}
	deadline := now + s.window.Load()
	for prev := now; ; {
		if s.yield {
			// Let this P run what is ready (the goroutine we just
			// handed a message to, typically) before looking again.
			runtime.Gosched()
		}
		for range s.batch {
			if try() {
				// Data came: what Arrived records, without reading
				// the clock again.
				s.last.Store(prev)
				return true
			}
		}
		t := Now()
		if gap := t - prev; gap > int64(Preempted) {
			// This thread lost its CPU while it polled, or other work
			// ran between two polls: poll as little as possible from
			// now on, and not at all for a while if the CPU went to
			// another thread for a time slice.
			s.window.Store(int64(MinWindow))
			if gap > int64(LostCPU) {
				lost.Store(t)
			}
			break
		}
		if prev = t; t >= deadline {
			break
		}
	}
	s.parked.Store(Now())
	return false
}

// Polls reports whether Poll would poll now: polling is on, data came
// within Recently and the machine is not busy. A waiter whose Poll would
// not poll can go straight to its wait in the kernel, which returns at once
// if data is there, and save the system call of a first try: one on each
// side of a round trip, on the path the other side waits for.
func (s *Spinner) Polls() bool { return !Off() && s.polls(Now()) }

// polls is Polls at now, once polling is known to be on.
func (s *Spinner) polls(now int64) bool {
	return now-s.last.Load() <= int64(Recently) && !machineBusy(now)
}

// machineBusy reports whether a poller lost its CPU within Busy of now.
func machineBusy(now int64) bool {
	l := lost.Load()
	return l != 0 && now-l < int64(Busy)
}

// Forget forgets that a poller lost its CPU; for tests.
func Forget() { lost.Store(0) }
