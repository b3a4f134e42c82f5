package mp

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// When polling gives up (spin.go), a waiter that will also do the work
// that follows — the backend's loop, a Call waiting for its reply — blocks
// its thread in poll(2) on the descriptor, instead of parking its goroutine
// in the runtime's poller. The kernel then wakes that very thread when data
// comes, as it wakes a blocking read(2): one wake-up per message, where the
// runtime's poller takes two or three (the thread in epoll_wait, then a
// hand-off to a thread with a processor) and spends its idle processors'
// spinning on top. Its cost is one OS thread per blocked waiter. In the
// frontend a Call (or an event's Wait) holds it for blockFor at most, and
// at most maxBlockers of them at once, then parks in the runtime's
// poller: an idle process holds no thread there. The backend's loop, one
// per backend process, waits for as long as it waits, in read(2) itself
// where it can (plainread.go), in poll(2) where it cannot.
//
// A blocked thread cannot see a context end; it polls a waker too, an
// eventfd written when the context ends.

// waitReadable blocks the calling thread in poll(2) until fd is readable
// (or has hung up), ctx ends, wake (if not -1) becomes readable, or
// timeout passes (a negative timeout never does). It reports whether fd is
// readable; if not, ctx ended, wake was written or the time is up.
func waitReadable(ctx context.Context, fd, wake int, timeout time.Duration) (bool, error) {
	if timeout < 0 {
		return waitReadableFor(ctx, fd, wake, nil)
	}
	ts := unix.NsecToTimespec(int64(timeout))
	return waitReadableFor(ctx, fd, wake, &ts)
}

// waitReadableFor is waitReadable for the time left in *left (nil: no
// limit), which it updates as ppoll(2) does: to what is left of it when the
// wait ends (ppoll(2), "C library/kernel differences"; the call is the
// kernel's, not a C library's). A caller that waits again with the same
// left waits out the rest, without reading the clock.
func waitReadableFor(ctx context.Context, fd, wake int, left *unix.Timespec) (bool, error) {
	pfd := [3]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n := 1
	if wake >= 0 {
		pfd[n] = unix.PollFd{Fd: int32(wake), Events: unix.POLLIN}
		n++
	}
	if ctx.Done() != nil {
		w, err := wakers.get()
		if err != nil {
			return false, err
		}
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			unix.Write(w, one[:])
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired
				var buf [8]byte
				unix.Read(w, buf[:]) // drained: ready for its next waiter
			}
			wakers.put(w)
		}()
		pfd[n] = unix.PollFd{Fd: int32(w), Events: unix.POLLIN}
		n++
	}
	for {
		_, err := unix.Ppoll(pfd[:n], left, nil)
		switch {
		case err == unix.EINTR:
			continue // a signal (the runtime's, often): wait on
		case err != nil:
			return false, err
		}
		return pfd[0].Revents != 0, nil
	}
}

// waitSoon waits for fd in the kernel (waitReadable) for blockFor at most,
// calling try whenever fd is readable, until try returns true, ctx ends or
// giveUp (if not nil) says to stop. It reports whether try returned true;
// false at once if maxBlockers threads wait so already. blockFor counts the
// time spent waiting in the kernel, as ppoll(2) accounts it: the clock is
// not read on the way.
func waitSoon(ctx context.Context, fd int, try, giveUp func() bool) bool {
	if blockers.Add(1) > maxBlockers {
		blockers.Add(-1)
		return false
	}
	defer blockers.Add(-1)
	for left := unix.NsecToTimespec(int64(blockFor)); left.Sec > 0 || left.Nsec > 0; {
		if ctx.Err() != nil || giveUp != nil && giveUp() {
			return false
		}
		readable, err := waitReadableFor(ctx, fd, -1, &left)
		if err != nil {
			return false
		}
		if readable && try() {
			return true
		}
	}
	return false
}

// blockers counts the goroutines of the process that block a thread in
// waitReadable (waitSoon): Calls waiting for replies and events' waits. At
// most maxBlockers do at once; the others park in the runtime as before. A
// thousand calls in flight must not take a thousand threads.
var blockers atomic.Int32

var maxBlockers = int32(2 * runtime.GOMAXPROCS(0))

// blockFor is how long a Call blocks its thread waiting for its reply
// before it parks instead: a reply that takes longer than this is not
// waiting for the pipe, but for work, and holds no thread while it does.
var blockFor = time.Millisecond

var one = [8]byte{1}

// wakers is a pool of eventfds that wake a thread blocked in waitReadable
// when its context ends.
var wakers = &wakerPool{}

type wakerPool struct {
	mu   sync.Mutex
	free []int
}

func (p *wakerPool) get() (int, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		fd := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return fd, nil
	}
	p.mu.Unlock()
	return unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
}

func (p *wakerPool) put(fd int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < 64 {
		p.free = append(p.free, fd)
		return
	}
	unix.Close(fd)
}
