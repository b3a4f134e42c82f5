package mp

import (
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A floor of a transport the library does not use (docs/benchmarks.md, "The
// gap with polling off"): a round trip through a shared page, each side
// waiting in futex(2) for the other's counter to move. A futex wait ends
// when any thread that can see the word wakes it, so a waiter's own
// process can end it (a ctx's end) with no second descriptor to watch and
// no ppoll(2): the wait a Call needs, at the cost of a blocking one. What
// it does not do is what the pipes give for free: a peer's death wakes
// nobody (a bounded wait and a pidfd would have to stand in), and frames
// would need a ring of their own (mp/shm's).
//
//	MP_SPIN=0 go test -run '^$' -bench 'RawFutexRoundTrip|RawPipeRoundTrip$' -benchtime 50000x ./mp

// rawFutex is the echo child mode of BenchmarkRawFutexRoundTrip.
const rawFutex = "futex"

// futexPage is the shared page's layout: the caller's counter, the echo's.
type futexPage struct {
	call, reply atomic.Uint32
}

// futex(2)'s operations (linux/futex.h); shared between processes, so not
// the _PRIVATE ones.
const (
	futexOpWait = 0
	futexOpWake = 1
)

func futexWait(addr *atomic.Uint32, val uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexOpWait, uintptr(val), 0, 0, 0)
}

func futexWake(addr *atomic.Uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexOpWake, 1, 0, 0, 0)
}

// mapFutexPage maps the page of memfd fd.
func mapFutexPage(fd int) (*futexPage, error) {
	mem, err := unix.Mmap(fd, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return (*futexPage)(unsafe.Pointer(&mem[0])), nil
}

// futexEcho answers each move of the caller's counter by moving its own,
// until the caller's counter reaches 0xffffffff.
func futexEcho() int {
	p, err := mapFutexPage(3)
	if err != nil {
		return 1
	}
	seen := uint32(0)
	for {
		for p.call.Load() == seen {
			futexWait(&p.call, seen)
		}
		seen = p.call.Load()
		if seen == ^uint32(0) {
			return 0
		}
		p.reply.Store(seen)
		futexWake(&p.reply)
	}
}

// BenchmarkRawFutexRoundTrip is BenchmarkRawPipeRoundTrip through a shared
// page and futex(2) instead of two pipes: 4 bytes each way.
func BenchmarkRawFutexRoundTrip(b *testing.B) {
	fd, err := unix.MemfdCreate("futex-floor", unix.MFD_CLOEXEC)
	require.NoError(b, err)
	defer unix.Close(fd)
	require.NoError(b, unix.Ftruncate(fd, int64(unix.Getpagesize())))
	p, err := mapFutexPage(fd)
	require.NoError(b, err)
	stop, pid := startRaw(b, rawFutex, fd, fd)
	defer stop()
	defer func() { p.call.Store(^uint32(0)); futexWake(&p.call) }()
	n := uint32(0)
	defer measureCPU(b, pid)()
	for b.Loop() {
		n++
		p.call.Store(n)
		futexWake(&p.call)
		for p.reply.Load() != n {
			futexWait(&p.reply, n-1)
		}
	}
}
