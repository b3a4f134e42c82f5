package mp

import (
	"os"
	"runtime"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault (rev13): a printable non-ASCII name whose character straddles byte
// 15 of "mp:<name>" was cut inside that character, leaving a comm that is
// not UTF-8 in ps -o comm, top and /proc/<pid>/stat. The cut now falls
// before the character.
func TestThreadNameIsCutBetweenCharacters(t *testing.T) {
	name := "abcdefghijk€" // "mp:" and 11 bytes are 14: the € takes bytes 14 to 16
	require.NoError(t, checkProcessName(name))
	done := make(chan []byte)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with its new name
		setThreadName(ProcessPrefix + name)
		b, _ := os.ReadFile("/proc/thread-self/comm")
		done <- b
	}()
	comm := <-done
	assert.True(t, utf8.Valid(comm), "comm %q is not UTF-8", comm)
	assert.Equal(t, "mp:abcdefghijk\n", string(comm))
}
