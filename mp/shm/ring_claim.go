package shm

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Taking a side is a check (does a live process hold it?) and then two
// stores (start time, PID): two processes taking one side at the same
// moment could both pass the check, and both believe they have it. So the
// check and the stores run under a record lock on the side's 16 bytes of
// the header (its PID and start time), which the kernel drops when the
// process dies, and under a mark of that side of that segment in this
// process, since two Rings of this process may share one open file
// description, which a lock does not exclude from itself. Neither is
// waited for: a side that somebody is taking is ErrBusy, as it is once
// that one has it.
//
// The lock is an open file description lock (fcntl F_OFD_SETLK), not a
// classic POSIX one (F_SETLK): the kernel drops all of a process's POSIX
// locks on a file as soon as the process closes any descriptor of it
// (another Ring of the segment closed by another goroutine, the copies of
// Files handed to a child), and another process could then take the side
// in the middle of this one's take. It is taken on a description of its
// own (the segment opened again through /proc/self/fd), since the ring's
// may be shared with the process it competes with. The two kinds conflict
// with each other, so a program in another language may take a side under
// F_SETLK.

type claimKey struct {
	dev, ino uint64 // the segment (a ring in Go memory: its address)
	off      uintptr
}

var claims struct {
	sync.Mutex
	held map[claimKey]bool
}

// claim takes the right to take the side whose PID word is pid, and
// returns the function that gives it back.
func (s *side) claim(pid *atomic.Uint64) (release func(), err error) {
	off := uintptr(unsafe.Pointer(pid)) - uintptr(s.w.base)
	key := claimKey{dev: uint64(uintptr(s.w.base)), off: off}
	fd := s.r.segFD
	if fd >= 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, s.errorf("stat the segment: %w", err)
		}
		key.dev, key.ino = st.Dev, st.Ino
	}
	claims.Lock()
	busy := claims.held[key]
	if !busy {
		if claims.held == nil {
			claims.held = map[claimKey]bool{}
		}
		claims.held[key] = true
	}
	claims.Unlock()
	if busy {
		return nil, s.errorf("%w: another goroutine of this process is taking it", ErrBusy)
	}
	drop := func() {
		claims.Lock()
		delete(claims.held, key)
		claims.Unlock()
	}
	if fd < 0 {
		return drop, nil
	}
	// The lock's own open file description: the ring's descriptor may
	// share its description with another process (Files handed to a
	// child), and an OFD lock does not exclude the description's holders
	// from one another.
	lfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		drop()
		return nil, s.errorf("lock the side: reopen the segment: %w", err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: int64(off), Len: 16}
	for {
		if err = unix.FcntlFlock(uintptr(lfd), unix.F_OFD_SETLK, &lk); err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(lfd)
		drop()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return nil, s.errorf("%w: another process is taking it", ErrBusy)
		}
		return nil, s.errorf("lock the side: %w", err)
	}
	return func() {
		unix.Close(lfd) // and the lock with it
		drop()
	}, nil
}

// beforeTake, if set, runs in attach between its check of the side and
// the stores that take it: a test's way to have somebody else take the
// side in between.
var beforeTake func()
