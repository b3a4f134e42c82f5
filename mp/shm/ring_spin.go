package shm

import (
	"runtime"
	"time"

	"github.com/mpgo/mp/internal/busy"
	"github.com/mpgo/mp/internal/env"
)

// A side that finds the ring empty (or full) polls it for a short window
// before it sleeps on its eventfd: waking a sleeping thread on another CPU
// costs tens of microseconds on the virtual machines this is measured on,
// far more than a frame. The window adapts the way package mp's message
// path does (mp/spin.go, whose idea this copies until both move to one
// internal package): when the wait ended soon after polling gave up, the
// next window is half as long again as that wait; when it ended much later,
// the window halves; a pause between two polls longer than ringPreempted
// (the kernel gave the CPU to another thread) drops it to the minimum; and
// nothing is polled when the last frame is older than ringRecently, so an
// idle ring uses no CPU, nor while the machine is busy (internal/busy: more
// threads want to run than there are CPUs, and a side that polls takes the
// CPU its peer needs). MP_SPIN=0 turns polling off.
//
// The loop yields with runtime.Gosched, which lets other goroutines of this
// process run, and never with sched_yield: under CPU contention that hands
// the core to the competitor for a whole time slice.
const (
	ringMinSpin   = 2 * time.Microsecond
	ringMaxSpin   = 50 * time.Microsecond
	ringRecently  = time.Millisecond
	ringPreempted = 20 * time.Microsecond
)

// ringSpinOff is MP_SPIN=0 (or false), read once.
var ringSpinOff = func() bool {
	on, _ := env.Bool("MP_SPIN", true)
	return !on
}()

var ringClock = time.Now()

func ringNow() int64 { return int64(time.Since(ringClock)) }

// poller holds one side's polling window. It belongs to the goroutine that
// uses the side.
type poller struct {
	window int64 // nanoseconds
	last   int64 // when the last wait ended
	parked int64 // when polling last gave up, 0 once a wait ended
}

func newPoller() poller { return poller{window: int64(ringMaxSpin)} }

// done records that a wait ended (a frame or a slot came), adapting the
// window.
func (s *poller) done() {
	now := ringNow()
	if s.parked != 0 {
		if late := now - s.parked; late < int64(ringMaxSpin) {
			s.window = min(max(late*3/2, int64(ringMinSpin)), int64(ringMaxSpin))
		} else {
			s.window = max(s.window/2, int64(ringMinSpin))
		}
		s.parked = 0
	}
	s.last = now
}

// poll calls try until it returns true or an error, or the window ends.
func (s *poller) poll(try func() (bool, error)) (bool, error) {
	now := ringNow()
	if ringSpinOff || now-s.last > int64(ringRecently) || busy.Machine() {
		return false, nil
	}
	deadline := now + s.window
	for prev := now; ; {
		for range 16 {
			if ok, err := try(); ok || err != nil {
				return ok, err
			}
		}
		runtime.Gosched()
		t := ringNow()
		if t-prev > int64(ringPreempted) {
			s.window = int64(ringMinSpin)
			break
		}
		if prev = t; t >= deadline {
			break
		}
	}
	s.parked = ringNow()
	return false, nil
}
