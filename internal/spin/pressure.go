package spin

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/procfs"
)

// A machine is busy, too, while threads wait for a CPU. The kernel counts
// that time in its pressure stall information (PSI, Linux 4.20 and later;
// https://docs.kernel.org/accounting/psi.html): the "some" line of
// /proc/pressure/cpu totals the microseconds during which at least one
// runnable task waited for a CPU. Pollers read it every PressureEvery at
// most, and poll no more while the share of time with a task waiting, since
// the reading before, exceeds PressureBusy: a thread that polls then holds
// a CPU that a waiting thread, perhaps its peer, needs. A poller may never
// lose its CPU on such a machine (the kernel favours a thread that has just
// woken over the CPU-bound ones), so LostCPU alone does not see it.
const (
	// PressureEvery is how often pollers read the CPU pressure at most.
	PressureEvery = 10 * time.Millisecond
	// PressureBusy is the share of time, between two readings, with a
	// task waiting for a CPU above which the machine counts as busy.
	PressureBusy = 0.10
)

// ReadPressure returns the "some" total of /proc/pressure/cpu, in
// microseconds, and false if the kernel has none; a variable for tests.
var ReadPressure = func() (uint64, bool) {
	fs, err := procFS()
	if err != nil {
		return 0, false
	}
	st, err := fs.PSIStatsForResource("cpu")
	if err != nil || st.Some == nil {
		return 0, false
	}
	return st.Some.Total, true
}

var procFS = sync.OnceValues(procfs.NewDefaultFS)

// pressure is the CPU pressure as pollers last read it.
var pressure struct {
	sampling atomic.Bool   // a poller reads it now
	at       atomic.Int64  // when it was last read (Now), 0 before
	total    atomic.Uint64 // the "some" total then
	busy     atomic.Bool   // the share since the reading before exceeded PressureBusy
	none     atomic.Bool   // the kernel has no pressure information
}

// underPressure reports whether tasks waited for a CPU more than
// PressureBusy of the time between the last two readings, reading it again
// first if PressureEvery has passed. Readings more than a second apart
// say nothing of now: the first of a new pair is taken as not busy.
func underPressure(now int64) bool {
	if now-pressure.at.Load() >= int64(PressureEvery) && !pressure.none.Load() &&
		pressure.sampling.CompareAndSwap(false, true) {
		defer pressure.sampling.Store(false)
		at := pressure.at.Load()
		total, ok := ReadPressure()
		if !ok {
			pressure.none.Store(true)
			pressure.busy.Store(false)
			return false
		}
		prev := pressure.total.Swap(total)
		span := now - at
		pressure.busy.Store(at != 0 && span <= int64(time.Second) &&
			float64(total-prev)*1e3 > PressureBusy*float64(span))
		pressure.at.Store(now)
	}
	return pressure.busy.Load()
}

// forgetPressure forgets the readings; for tests.
func forgetPressure() {
	pressure.at.Store(0)
	pressure.total.Store(0)
	pressure.busy.Store(false)
	pressure.none.Store(false)
}
