package mp

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestStartRawLeavesTheCallersDescriptorsAlone: the raw benchmarks' echo
// child gets descriptors of its own. The caller's, closed after the start,
// are free for the next pipe, which keeps them through any number of
// garbage collections. (An *os.File over the caller's descriptors closed
// them again when it was finalized, whatever they were by then: in
// BenchmarkCallWhileBusy the floor's echo or a message pipe lost its data
// and the benchmark hung.)
func TestStartRawLeavesTheCallersDescriptorsAlone(t *testing.T) {
	toChild, fromChild := rawRoundTripAndStop(t)

	// The next pipe, at the numbers the caller closed.
	var p [2]int
	require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC))
	for i, at := range []int{toChild, fromChild} {
		if p[i] != at { // the kernel may have picked the number already
			require.NoError(t, unix.Dup3(p[i], at, unix.O_CLOEXEC))
			unix.Close(p[i])
		}
	}
	defer unix.Close(toChild)
	defer unix.Close(fromChild)

	for range 3 {
		finalized := make(chan struct{})
		runtime.SetFinalizer(&struct{ p *int }{new(int)}, func(*struct{ p *int }) { close(finalized) })
		runtime.GC()
		<-finalized // the finalizers of this collection run meanwhile
	}
	_, err := unix.Write(fromChild, []byte("x"))
	require.NoError(t, err, "the new pipe's write end was closed behind its back")
	var buf [1]byte
	n, err := unix.Read(toChild, buf[:])
	require.NoError(t, err, "the new pipe's read end was closed behind its back")
	assert.Equal(t, 1, n)
}

// rawRoundTripAndStop starts the raw echo child as the benchmarks do, makes
// one round trip, stops it and closes every descriptor; it returns the
// numbers of the two the child was given, now free.
func rawRoundTripAndStop(t *testing.T) (toChild, fromChild int) {
	var down, up [2]int
	require.NoError(t, unix.Pipe2(down[:], unix.O_CLOEXEC))
	require.NoError(t, unix.Pipe2(up[:], unix.O_CLOEXEC))
	stop, _ := startRaw(t, "pipe", down[0], up[1])
	unix.Close(down[0])
	unix.Close(up[1])
	buf := []byte("12345678")
	_, err := unix.Write(down[1], buf)
	require.NoError(t, err)
	require.NoError(t, readFull(up[0], buf))
	unix.Close(down[1])
	unix.Close(up[0])
	stop()
	return down[0], up[1]
}
