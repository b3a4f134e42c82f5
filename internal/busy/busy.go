// Package busy tells whether the machine is busy: whether more threads want
// to run than there are CPUs, as this process sees it. Pollers (the message
// path's in package mp, the ring's in mp/shm) stop polling then: a thread
// that polls on such a machine takes its CPU from the peer it waits for,
// and a wait in the kernel is both faster and cheaper.
//
// The sign is that the kernel takes the CPU away from this process's threads
// (involuntary context switches, getrusage(2)); on a quiet machine it hardly
// ever does. Machine looks at most every Every; the machine counts as busy
// until the next look if the process was preempted twice or more since the
// last one.
package busy

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Every is how often Machine looks again at most.
const Every = 10 * time.Millisecond

var state struct {
	checked atomic.Int64 // when the count was last read, ns since start
	count   atomic.Int64 // involuntary context switches then
	busy    atomic.Bool  // preempted twice or more between the last two looks
}

var start = time.Now()

// Preemptions returns the process's involuntary context switches so far; a
// variable for tests.
var Preemptions = func() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Nivcsw
}

// Machine reports whether the process's threads were preempted recently (see
// the package comment), looking again if the last look is older than Every.
func Machine() bool {
	now := int64(time.Since(start)) + int64(Every) // never 0
	last := state.checked.Load()
	if now-last < int64(Every) || !state.checked.CompareAndSwap(last, now) {
		return state.busy.Load()
	}
	n := Preemptions()
	old := state.count.Swap(n)
	// Two, not one: the process's own start-up and rare kernel work
	// preempt a thread now and then on a quiet machine too. A look long
	// after the last one (the process was idle) only takes the count:
	// preemptions spread over that long say nothing of now.
	b := last != 0 && now-last <= 2*int64(Every) && n-old >= 2
	state.busy.Store(b)
	return b
}

// Forget makes the next call of Machine look again, as if it were the
// first; for tests.
func Forget() {
	state.checked.Store(0)
	state.busy.Store(false)
}

// Expire makes the next call of Machine look again; for tests.
func Expire() {
	if last := state.checked.Load(); last != 0 {
		state.checked.CompareAndSwap(last, last-int64(Every))
	}
}
