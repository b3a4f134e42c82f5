package shm

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Taking a side is a check (does a live process hold it?) and then two
// stores (start time, PID): two processes taking one side at the same
// moment could both pass the check, and both believe they have it. So the
// check and the stores run under a POSIX record lock (fcntl F_SETLK) on
// the side's 16 bytes of the header (its PID and start time), which the
// kernel drops when the process dies, and, since record locks belong to
// the process and do not exclude its own goroutines, under a mark of that
// side of that segment in this process. Neither is waited for: a side
// that somebody is taking is ErrBusy, as it is once that one has it.

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
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: int64(off), Len: 16}
	for {
		if err = unix.FcntlFlock(uintptr(fd), unix.F_SETLK, &lk); err != unix.EINTR {
			break
		}
	}
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		drop()
		return nil, s.errorf("%w: another process is taking it", ErrBusy)
	}
	if err != nil {
		drop()
		return nil, s.errorf("lock the side: %w", err)
	}
	return func() {
		lk.Type = unix.F_UNLCK
		unix.FcntlFlock(uintptr(fd), unix.F_SETLK, &lk)
		drop()
	}, nil
}

// beforeTake, if set, runs in attach between its check of the side and
// the stores that take it: a test's way to have somebody else take the
// side in between.
var beforeTake func()
