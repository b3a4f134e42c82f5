package proctest

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// AwaitNone waits up to bound for list to return no process, and returns
// what it returns then (nil when none is left). It waits on the pidfds of
// the listed processes (pidfd_open(2)) until one of them ends, then calls
// list again, which also catches a process started meanwhile; it does not
// look every few milliseconds. list returns PIDs of live processes, such
// as Tagged does. On an error of the system calls it returns the last
// list and the error.
func AwaitNone(list func() []int, bound time.Duration) ([]int, error) {
	deadline := time.Now().Add(bound)
	for {
		pids := list()
		left := time.Until(deadline)
		if len(pids) == 0 || left <= 0 {
			return pids, nil
		}
		if _, err := awaitAnyGone(pids, left); err != nil {
			return pids, err
		}
	}
}

// awaitAnyGone waits up to bound for one of pids to end (or to have ended
// before: a PID no process has any more), and reports whether one did.
func awaitAnyGone(pids []int, bound time.Duration) (bool, error) {
	pfds := make([]unix.PollFd, 0, len(pids))
	defer func() {
		for _, p := range pfds {
			unix.Close(int(p.Fd))
		}
	}()
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err == unix.ESRCH {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("pidfd_open(%d): %w", pid, err)
		}
		pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	for deadline := time.Now().Add(bound); ; {
		// Rounded up: a wait of 0 ms would make the caller look again at once.
		ms := (max(time.Until(deadline), 0) + time.Millisecond - 1) / time.Millisecond
		n, err := unix.Poll(pfds, int(ms))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll on pidfds: %w", err)
		}
		return n > 0, nil
	}
}
