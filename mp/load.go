package mp

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Polling pays only while a CPU would otherwise sit idle: when more threads
// want to run than there are CPUs, a thread that polls takes its CPU from
// the peer it waits for, or from other work, and a wait in the kernel is
// both faster and cheaper (docs/benchmarks.md, "The waiting path"). The
// sign of such a machine is that the kernel takes the CPU away from this
// process's threads (involuntary context switches, getrusage(2)); on a
// quiet machine it hardly ever does. So polling stops for a while
// whenever the process was preempted since the last look, which happens at
// most every loadEvery.
const loadEvery = 10e6 // ns: 10 ms

// loadState is shared by every spinner of the process.
var loadState struct {
	checked atomic.Int64 // when the count was last read, monotonic ns
	count   atomic.Int64 // involuntary context switches then
	busy    atomic.Bool  // preempted between the last two looks
}

// preemptions returns the process's involuntary context switches so far;
// a variable for tests.
var preemptions = func() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Nivcsw
}

// busyMachine reports whether the process's threads were preempted
// recently (see above), looking again if the last look is older than
// loadEvery.
func busyMachine(now int64) bool {
	last := loadState.checked.Load()
	if now-last < loadEvery || !loadState.checked.CompareAndSwap(last, now) {
		return loadState.busy.Load()
	}
	n := preemptions()
	old := loadState.count.Swap(n)
	// Two, not one: the process's own start-up and rare kernel work
	// preempt a thread now and then on a quiet machine too.
	busy := last != 0 && n-old >= 2
	loadState.busy.Store(busy)
	return busy
}
