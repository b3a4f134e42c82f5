package mp

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A message pipe's reader needs a descriptor more than the pipe's (a copy
// of it, outside the runtime's poller, then an epoll instance, which takes
// the number the pipe's own descriptor leaves); when the open-file limit
// leaves none, the error says which step ran out, and the limit's errno
// stays in the chain (the start adds which limit: limitError).
func TestMessagePipeOutOfDescriptorsSaysWhichStep(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer w.Close()
	defer r.Close()
	var old unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &old))
	// The lowest free descriptor is the next one opened: a limit of its
	// number leaves none.
	probe, err := unix.Dup(int(w.Fd()))
	require.NoError(t, err)
	unix.Close(probe)
	lowered := unix.Rlimit{Cur: uint64(probe), Max: old.Max}
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lowered))
	m, err := newMsgPipe(r)
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &old))
	if err == nil {
		m.close()
		t.Fatal("newMsgPipe found a descriptor under the lowered limit")
	}
	assert.ErrorIs(t, err, syscall.EMFILE)
	assert.Contains(t, err.Error(), "a copy of the message pipe's descriptor")
}
