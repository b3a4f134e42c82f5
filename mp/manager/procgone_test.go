package manager_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// awaitGone waits up to bound for process pid to end, and reports whether
// it has: its pidfd becomes readable when it exits (pidfd_open(2)), which
// the test waits for in poll(2) rather than looking every few
// milliseconds. A pid already reaped counts as ended.
func awaitGone(t *testing.T, pid int, bound time.Duration) bool {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err == unix.ESRCH {
		return true
	}
	require.NoError(t, err)
	defer unix.Close(fd)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for deadline := time.Now().Add(bound); ; {
		left := max(time.Until(deadline), 0)
		n, err := unix.Poll(pfd, int(left.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		require.NoError(t, err)
		return n > 0
	}
}
