package spin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pressureClock sets the clock to *now and makes ReadPressure report a
// "some" total that grows by *share of the time that passes, for the rest
// of the test; present says whether the kernel has the information.
func pressureClock(t *testing.T, now *int64, share *float64, present bool) {
	old, oldOff, oldRead := Now, Off, ReadPressure
	*now = 1
	Now = func() int64 { return *now }
	Off = false
	var total float64
	last := *now
	ReadPressure = func() (uint64, bool) {
		total += float64(*now-last) / 1e3 * *share
		last = *now
		return uint64(total), present
	}
	Forget()
	t.Cleanup(func() { Now, Off, ReadPressure = old, oldOff, oldRead; Forget() })
}

// A machine where tasks wait for a CPU more than PressureBusy of the time
// is busy: waiters stop polling once a reading says so, within
// PressureEvery, and poll again once a reading says it no longer is. (The
// fault it answers: beside two CPU-bound processes a Call's pollers never
// lost their CPU for LostCPU, the kernel preferring them to the CPU-bound
// ones, and polled on: 42 system calls per Call against 6.5 without.)
func TestPressureStopsPolling(t *testing.T) {
	var now int64
	share := 0.5
	pressureClock(t, &now, &share, true)
	s := New(1, true)
	s.Arrived()
	assert.True(t, s.Polls(), "no reading yet")

	now += int64(PressureEvery)
	s.Arrived()
	assert.True(t, s.Polls(), "the first reading: nothing to compare with")
	now += int64(PressureEvery) / 2
	s.Arrived()
	assert.True(t, s.Polls(), "not read again before PressureEvery")
	now += int64(PressureEvery) / 2
	s.Arrived()
	assert.False(t, s.Polls(), "half the time a task waited for a CPU")
	tries := 0
	assert.False(t, s.Poll(func() bool { tries++; return true }))
	assert.Zero(t, tries, "no poll on a busy machine")

	share = PressureBusy / 2
	now += int64(PressureEvery)
	s.Arrived()
	assert.True(t, s.Polls(), "the pressure has gone")
}

// Readings more than a second apart say nothing of now, and a kernel
// without pressure information never makes the machine busy (and is asked
// once).
func TestPressureReadingsTooFarApartOrMissing(t *testing.T) {
	var now int64
	share := 1.0
	pressureClock(t, &now, &share, true)
	for range 3 {
		now += int64(2 * time.Second)
		require.False(t, underPressure(now), "readings two seconds apart")
	}

	pressureClock(t, &now, &share, false)
	reads := 0
	read := ReadPressure
	ReadPressure = func() (uint64, bool) { reads++; return read() }
	for range 3 {
		now += int64(PressureEvery)
		require.False(t, underPressure(now))
	}
	assert.Equal(t, 1, reads, "the kernel has none: asked once")
}

// The pressure this machine's kernel reports reads as a growing total.
func TestReadPressureOfThisMachine(t *testing.T) {
	first, ok := ReadPressure()
	if !ok {
		t.Skip("this kernel has no /proc/pressure/cpu (PSI off or Linux before 4.20)")
	}
	time.Sleep(time.Millisecond) // time for the total to move, if anything waits
	second, ok := ReadPressure()
	require.True(t, ok)
	assert.GreaterOrEqual(t, second, first, "a total in microseconds, never decreasing")
}
