package shm

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setAvailable makes memoryFor see n bytes of memory until the test ends.
func setAvailable(t *testing.T, n uint64) {
	old := available
	available = func() (uint64, string) { return n, "the test's figure" }
	t.Cleanup(func() { available = old })
}

// Fault: an array, an anonymous array and a ring asked for more than memory
// can take (here, memory made to look 1 MiB large). Each must fail with
// ErrNoSpace, naming what was asked and what is available, and leave nothing
// in /dev/shm; before memoryFor, an anonymous array of 8 TiB had fallocate(2)
// reserve pages until the kernel's out-of-memory killer ended other
// processes on the machine (seen by a user trying the docs' error paths).
func TestCreateBeyondMemory(t *testing.T) {
	useShmPrefix(t)
	setAvailable(t, 1<<20)
	_, err := Create[byte]("big", 2<<20)
	require.ErrorIs(t, err, ErrNoSpace)
	assert.Regexp(t, `: not enough shared memory: 2[0-9]{6} bytes asked, 1048576 available \(the test.s figure\)$`, err.Error())
	_, err = CreateAnon[byte]("big", 2<<20)
	require.ErrorIs(t, err, ErrNoSpace)
	_, err = CreateRingAnon("big", RingConfig{SlotSize: 1 << 20, Slots: 2})
	require.ErrorIs(t, err, ErrNoSpace)

	small, err := CreateAnon[byte]("small", 4096)
	require.NoError(t, err, "what fits is still made")
	require.NoError(t, small.Close())
}

// available reads this machine's memory: more than nothing, no more than
// memory and swap together, and memoryFor refuses a byte beyond it. The
// figure is meminfo's, or, in a memory cgroup with a limit that leaves
// less, the cgroup's.
func TestAvailableIsThisMachines(t *testing.T) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip("no /proc/meminfo here:", err)
	}
	total, ok := meminfoField(b, "MemTotal")
	require.True(t, ok)
	swap, ok := meminfoField(b, "SwapTotal")
	require.True(t, ok)
	avail, source := available()
	if source != "MemAvailable + SwapFree in /proc/meminfo" {
		assert.Contains(t, source, "of cgroup /")
	}
	assert.Positive(t, avail)
	assert.LessOrEqual(t, avail, total+swap)
	require.ErrorIs(t, memoryFor(int(avail)+1<<30), ErrNoSpace)
	require.NoError(t, memoryFor(4096))
}

// meminfoField reads a field's value in bytes (kB in the file is KiB), and
// says when the field is missing or malformed.
func TestMeminfoField(t *testing.T) {
	text := []byte("MemTotal:       24683784 kB\nMemAvailable:   23458768 kB\nHugePages_Total:       0\nSwapFree: x kB\n")
	n, ok := meminfoField(text, "MemAvailable")
	assert.True(t, ok)
	assert.Equal(t, uint64(23458768)<<10, n)
	n, ok = meminfoField(text, "HugePages_Total")
	assert.True(t, ok, "a field without a unit")
	assert.Zero(t, n)
	_, ok = meminfoField(text, "SwapFree")
	assert.False(t, ok, "malformed")
	_, ok = meminfoField(text, "Mem")
	assert.False(t, ok, "a prefix of a field is not the field")
}
