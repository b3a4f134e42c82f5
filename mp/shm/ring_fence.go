package shm

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A side publishes a frame (or a free slot) and then loads the other
// side's waiting flag; a side that goes to sleep stores its flag and then
// looks at the ring once more. For no wake-up to be lost, one of the two
// must see the other's store: each pair of a store and a later load needs
// a full fence between them (x86 may satisfy the load before the store
// leaves its store buffer). A fence on the publishing side, once per
// frame, waits for the frame's cache line to cross to the other CPU: the
// cost that kept small frames at a third of their rate.
//
// So the fence moves to the side that goes to sleep, which is slow anyway:
// it calls membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which runs a full
// fence on every CPU that runs a process registered for it (and a process
// not running went through one when it was switched out). After that call
// either the publisher's store is visible to the sleeper's second look, or
// the publisher's load comes after the fence and sees the flag. A process
// whose kernel offers this registers once, and its sides then publish with
// plain release stores (storeRelease) and say so in the header (the
// fenceless words), so that a peer knows to call membarrier before it
// sleeps. Without it (kernels before 4.16, or a seccomp filter), a side
// publishes with a sequentially consistent store, the fence included.

const (
	membarrierQuery                   = 0
	membarrierGlobalExpedited         = 1 << 1
	membarrierRegisterGlobalExpedited = 1 << 2
)

var (
	fencelessOnce sync.Once
	fenceless     bool
)

// publishFenceless registers this process for expedited global memory
// barriers, once, and reports whether it is registered: then its sides
// may publish without a fence.
func publishFenceless() bool {
	fencelessOnce.Do(func() {
		cmds, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierQuery, 0, 0)
		want := uintptr(membarrierGlobalExpedited | membarrierRegisterGlobalExpedited)
		if errno != 0 || cmds&want != want {
			return
		}
		_, _, errno = unix.Syscall(unix.SYS_MEMBARRIER, membarrierRegisterGlobalExpedited, 0, 0)
		fenceless = errno == 0
	})
	return fenceless
}

// fenceOthers runs a full fence on every CPU that runs a registered
// process, and reports whether it could. A variable, so that a test can
// make it fail.
var fenceOthers = func() bool {
	_, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierGlobalExpedited, 0, 0)
	return errno == 0
}

// publish stores v at p for the other side to see: a release store when
// this process publishes without fences, a sequentially consistent one
// otherwise.
func (s *side) publish(p *atomic.Uint64, v uint64) {
	if s.fenceless {
		storeRelease((*uint64)(unsafe.Pointer(p)), v)
	} else {
		p.Store(v)
	}
}
