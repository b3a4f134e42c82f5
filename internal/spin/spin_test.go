package spin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// fakeClock makes Now advance by step at every reading, for the rest of
// the test.
func fakeClock(t *testing.T, step *time.Duration) {
	old, oldOff := Now, Off()
	var now int64 = 1
	Now = func() int64 { now += int64(*step); return now }
	SetOff(false)
	Forget()
	t.Cleanup(func() { Now = old; SetOff(oldOff); Forget() })
}

// polls reports whether a spinner that just saw data calls try at all.
func polls(s *Spinner) bool {
	s.Arrived()
	tries := 0
	s.Poll(func() bool { tries++; return true })
	return tries > 0
}

// gives up polls with a try that never succeeds, so that the window ends.
func givesUp(s *Spinner) {
	s.Arrived()
	s.Poll(func() bool { return false })
}

func TestPollsWhileDataCameRecently(t *testing.T) {
	step := time.Microsecond
	fakeClock(t, &step)
	s := New(1, true)
	assert.True(t, polls(s))
	step = 2 * Recently
	s.Arrived()
	tries := 0
	s.Poll(func() bool { tries++; return false })
	assert.Zero(t, tries, "no data for longer than Recently: no polling")
}

func TestPollingOff(t *testing.T) {
	step := time.Microsecond
	fakeClock(t, &step)
	SetOff(true)
	assert.False(t, polls(New(1, true)))
}

// Fault: on a quiet machine the peer's wake-ups preempt a polling thread
// thousands of times a second, for microseconds each. A check that counted
// those preemptions (getrusage's involuntary context switches) took them
// for a busy machine and stopped polling: a Call took 2.5–3 × as long on a
// quiet machine, the ring's 64-byte rate halved. Short pauses shrink the
// window; they do not stop polling.
func TestShortPreemptionsDoNotStopPolling(t *testing.T) {
	step := time.Microsecond
	fakeClock(t, &step)
	s := New(1, true)
	for range 1000 {
		step = 2 * Preempted // every poll preempted for 40 µs
		givesUp(s)
		step = time.Microsecond
		assert.True(t, polls(s), "a short preemption stopped polling")
	}
	assert.Equal(t, int64(MinWindow), s.window.Load(), "preempted: the window is at its minimum")
}

// Fault: a thread that polls while more threads want to run than there are
// CPUs takes the CPU from the peer it waits for. Once a poller has lost its
// CPU for a time slice, no spinner of the process polls for Busy; then
// they poll again.
func TestLosingTheCPUStopsPollingForAWhile(t *testing.T) {
	step := time.Microsecond
	fakeClock(t, &step)
	s, other := New(1, true), New(16, true)
	assert.True(t, polls(s))
	step = 2 * LostCPU
	givesUp(s)
	step = time.Microsecond
	assert.False(t, polls(s), "lost the CPU: no polling")
	assert.False(t, polls(other), "another spinner of the process does not poll either")
	step = Busy
	s.Arrived() // the clock passes Busy
	step = time.Microsecond
	assert.True(t, polls(s), "after Busy: polling again")
}

func TestWindowAdapts(t *testing.T) {
	step := time.Microsecond
	fakeClock(t, &step)
	s := New(1, true)
	givesUp(s) // polled the whole window: parked
	step = 4 * time.Microsecond
	s.Arrived() // data came 4 µs (one clock step) after polling gave up
	assert.Equal(t, int64(6*time.Microsecond), s.window.Load(), "half as long again as the wait")
	givesUp(s)
	step = 2 * MaxWindow
	s.Arrived() // data came long after: the window halves
	assert.Equal(t, int64(3*time.Microsecond), s.window.Load())
}

func TestBatchTriesBetweenClockReadings(t *testing.T) {
	step := time.Microsecond
	fakeClock(t, &step)
	s := New(16, true)
	s.Arrived()
	tries, readings := 0, 0
	old := Now
	Now = func() int64 { readings++; return old() }
	s.Poll(func() bool { tries++; return false })
	assert.Equal(t, 16*(readings-2), tries, "16 tries per clock reading")
}

func TestSuccessfulPollRecordsTheArrival(t *testing.T) {
	step := time.Microsecond
	fakeClock(t, &step)
	s := New(1, false)
	s.Arrived()
	before := s.last.Load()
	n := 0
	assert.True(t, s.Poll(func() bool { n++; return n == 3 }))
	assert.Greater(t, s.last.Load(), before, "the arrival is recorded")
}

// Polls tells a waiter whether Poll would call try now, so that one that
// will not poll waits in the kernel at once: it must agree with Poll in
// each state that stops polling.
func TestPollsSaysWhetherPollWouldPoll(t *testing.T) {
	step := time.Microsecond
	fakeClock(t, &step)
	s := New(1, true)
	s.Arrived()
	assert.True(t, s.Polls(), "data came a moment ago")
	assert.True(t, polls(s))

	step = 2 * Recently
	s.Arrived()
	assert.False(t, s.Polls(), "no data for longer than Recently")
	step = time.Microsecond

	SetOff(true)
	s.Arrived()
	assert.False(t, s.Polls(), "MP_SPIN=0")
	SetOff(false)

	step = 2 * LostCPU
	givesUp(s)
	step = time.Microsecond
	s.Arrived()
	assert.False(t, s.Polls(), "the machine is busy")
	assert.False(t, polls(s))
}
