package shm

import (
	"fmt"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// A named ring's segment is a file in /dev/shm that any process of its
// user may shrink with ftruncate, and a page of a shared mapping past the
// end of its file faults (SIGBUS) when touched. Its file cannot be sealed
// as an anonymous ring's memfd is (tmpfs files other than memfds are
// created with F_SEAL_SEAL set: fcntl(2)), so the ring's own accesses to
// it are guarded, as an array's are (guard.go): the fault becomes an
// error wrapping ErrFault, and the program goes on. The guard costs a few
// nanoseconds a call, as much as a frame's whole commit: only a ring
// whose memory may shrink pays it (guarded), and its calls then leave
// their short ways for the guarded ones. Like Array.Data, the slot that
// Reserve returns and the view that Next returns are the caller's to
// touch, unguarded.

// mayShrink reports whether the segment open on fd may shrink under a
// mapping: anything but a file sealed against it.
func mayShrink(fd int) bool {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	return err != nil || seals&unix.F_SEAL_SHRINK == 0
}

// protect runs fn and returns what it returns; on a ring whose memory may
// shrink, a fault on the ring's mapping during fn ends it with an error
// wrapping ErrFault, which names the ring, who (a side, or "") and op,
// and where the fault was. Any other panic goes on.
func protect[T any](r *Ring, who, op string, fn func() (T, error)) (T, error) {
	if !r.guarded {
		return fn()
	}
	return guarded(r, who, op, fn)
}

// guarded is protect on a ring whose memory may shrink.
func guarded[T any](r *Ring, who, op string, fn func() (T, error)) (v T, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			var st unix.Stat_t
			known := r.segFD >= 0 && unix.Fstat(r.segFD, &st) == nil
			if who != "" {
				op = who + ": " + op
			}
			err = fmt.Errorf("shm: ring %q %s: %w", r.name, op, faultIn(r.mem, p, st.Size, known))
		}
	}()
	return fn()
}

// protectSide is protect for an operation of side s.
func protectSide[T any](s *side, op string, fn func() (T, error)) (T, error) {
	return protect(s.r, s.what, op, fn)
}

// drops reads the drop counter; 0 when a fault hides it.
func (r *Ring) drops() uint64 {
	n, _ := protect(r, "", "drops", func() (uint64, error) { return r.words.drops.Load(), nil })
	return n
}
