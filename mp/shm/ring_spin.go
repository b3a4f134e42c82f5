package shm

import "github.com/mpgo/mp/internal/spin"

// A side that finds the ring empty (or full) polls it for a short window
// before it sleeps on its eventfd: waking a sleeping thread on another CPU
// costs tens of microseconds on the virtual machines this is measured on,
// far more than a frame. The window adapts as the message path's does
// (internal/spin): nothing is polled when the last frame is older than
// spin.Recently, so an idle ring uses no CPU, nor while the machine is busy
// (a side that polls then takes the CPU its peer needs). MP_SPIN=0 turns
// polling off.
//
// The loop yields with runtime.Gosched, which lets other goroutines of this
// process run, and never with sched_yield: under CPU contention that hands
// the core to the competitor for a whole time slice.

// poller holds one side's polling window. A try is a load from memory, so
// it tries 16 times between two yields of the processor.
type poller struct{ s *spin.Spinner }

func newPoller() poller { return poller{spin.New(16, false)} }

// done records that a wait ended (a frame or a slot came).
func (p poller) done() { p.s.Arrived() }

// poll calls try until it returns true or an error, or polling gives up.
func (p poller) poll(try func() (bool, error)) (bool, error) {
	var err error
	ok := p.s.Poll(func() bool {
		var done bool
		done, err = try()
		return done || err != nil
	})
	return ok && err == nil, err
}
