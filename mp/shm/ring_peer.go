package shm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A dead peer is found without heartbeats. Each side writes into the header,
// when it takes its side, its PID and its process's start time (field 22 of
// /proc/<pid>/stat, in clock ticks after boot). A PID alone is no identity
// (PIDs are reused), but a PID and a start time are: two processes with one
// PID cannot start in the same tick. A side about to sleep opens a pidfd
// on its peer's PID, then checks that the process behind it still started
// at that time; the pidfd then names that very process, and becomes
// readable the moment it exits, in the same poll(2) that waits for the
// eventfd. No timer guesses.
//
// Both sides must live in one PID namespace (as a frontend and its backends
// do). A side whose peer is this same process never watches it.

// peer watches the process on the other side.
type peer struct {
	pid, start *atomic.Uint64
	pidfd      int // -1 until resolved
	dead       error
	// The process that pidfd and dead are about: the header's PID and
	// start time when they were resolved. A process that takes the side
	// over writes others, and is watched afresh.
	watched, watchedStart uint64
}

func newPeer(pid, start *atomic.Uint64) *peer { return &peer{pid: pid, start: start, pidfd: -1} }

// fd returns a pidfd on the peer, or -1 when there is none yet (the peer has
// not taken its side) or none is needed (the peer is this process). It
// returns an error wrapping ErrPeerDied if the peer is gone.
func (p *peer) fd() (int, error) {
	if p.dead != nil || p.pidfd >= 0 {
		if p.pid.Load() == p.watched && p.start.Load() == p.watchedStart {
			if p.dead != nil {
				return -1, p.dead
			}
			return p.pidfd, nil
		}
		// Another process took the side over since: forget the old one.
		p.close()
		p.dead = nil
	}
	pid := p.pid.Load()
	p.watched, p.watchedStart = pid, p.start.Load()
	if pid == 0 || pid == uint64(os.Getpid()) {
		return -1, nil
	}
	if pid > 1<<22 {
		return -1, p.died(pid, "no such PID")
	}
	fd, err := unix.PidfdOpen(int(pid), 0)
	if errors.Is(err, unix.ESRCH) {
		// It took its side, so it ran: it has exited and been reaped
		// since, before or after our first look, which is a matter of
		// timing the words must not depend on.
		return -1, p.died(pid, "exited")
	}
	if err != nil {
		return -1, fmt.Errorf("watch the other side, process %d: pidfd_open: %w", pid, err)
	}
	if afterPidfdOpen != nil {
		afterPidfdOpen()
	}
	start, err := startTime(int(pid))
	switch {
	case err != nil && exited(fd):
		// Reaped since pidfd_open: its /proc entry went with it.
		unix.Close(fd)
		return -1, p.died(pid, "exited")
	case err != nil:
		unix.Close(fd)
		return -1, fmt.Errorf("watch the other side, process %d: %w", pid, err)
	case start != p.watchedStart:
		unix.Close(fd)
		return -1, p.died(pid, "its PID now belongs to another process")
	}
	p.pidfd = fd
	if exited(fd) {
		return -1, p.died(pid, "exited")
	}
	return fd, nil
}

// check reports, without waiting, whether the peer died.
func (p *peer) check() error {
	fd, err := p.fd()
	if err != nil || fd < 0 {
		return err
	}
	if exited(fd) {
		return p.died(p.watched, "exited")
	}
	return nil
}

func (p *peer) died(pid uint64, why string) error {
	p.dead = fmt.Errorf("%w: process %d %s without closing its side", ErrPeerDied, pid, why)
	p.close()
	return p.dead
}

func (p *peer) close() {
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// afterPidfdOpen, if set, runs in peer.fd between pidfd_open and the read
// of the process's start time; for tests, which reap the process there.
var afterPidfdOpen func()

// exited reports whether the process of pidfd fd has exited.
func exited(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// startTime returns the start time of process pid, in clock ticks after
// boot: field 22 of /proc/<pid>/stat, counted after the command name's
// closing parenthesis (the name may hold spaces and parentheses).
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	return strconv.ParseUint(string(fields[19]), 10, 64)
}
