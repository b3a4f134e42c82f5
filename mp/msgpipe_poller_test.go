package mp

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Fault: the message pipe in the runtime's poller woke the thread waiting in
// epoll_wait for every frame that came, even a reply its Call read itself.
// To keep out of the way the reader goroutine rested on a thread of its own,
// blocked in a system call with a processor: with both processors in
// system calls (the Call's wait and the rest), the runtime's sysmon took one
// back every 20 µs. The pipe stays out of the poller; the reader waits on
// an epoll instance of the pipe's own, and calls that come one after
// another leave the pipe unarmed there, so that their replies wake nothing.
func TestMessagePipeStaysOutOfThePoller(t *testing.T) {
	// The timer that arms the pipe restFor after the last call must not
	// fire between two calls of this test (preempted on a busy machine);
	// set before the process starts, and put back before it stops.
	restWas := restFor
	restFor = time.Minute
	t.Cleanup(func() { restFor = restWas })
	p := startTest(t, Options{})
	m := p.conn.pipe
	var ep int
	require.NoError(t, m.eprc.Control(func(fd uintptr) { ep = int(fd) }))
	ctx := context.Background()
	call := func() {
		t.Helper()
		_, err := p.Call(ctx, "echo", Params{"x": 1})
		require.NoError(t, err)
	}

	call()
	assert.False(t, inThePoller(t, m.src.fd, ep), "the message pipe is in the runtime's poller")
	assert.True(t, inThePoller(t, ep), "the pipe's own epoll instance is not in the runtime's poller")
	// The pipe was armed while the process idled: a Call disarms it when it
	// takes the token to read its reply, unless the reader goroutine,
	// woken by the reply, read it first (and armed the pipe again when it
	// let the token go). Once a Call has read its own reply, the pipe stays
	// unarmed.
	// A Call leaves the pipe as it found it when the reply was its own:
	// unarmed, or armed again by the reader goroutine, woken by the reply
	// before the Call disarmed it and finding nothing left to read when it
	// let the token go (selfArms counts those). Armed by anything else,
	// the pipe would wake the runtime's epoll_wait at every reply that a
	// Call reads, without the kernel ever reporting it to the reader (it
	// finds the pipe empty), and so stay armed. The look waits until the
	// reader goroutine waits in the poller: one that read the reply while
	// it polled (the Call found the token taken) leaves the pipe as the
	// test armed it until its polling ends and it arms the pipe itself.
	leftArmed := func(i int, what string) {
		t.Helper()
		arms := m.selfArms.Load()
		call()
		requireWithin(t, 5*time.Second, func() {
			for !parkedInThePoller("mp.(*frontConn).read") {
				runtime.Gosched()
			}
		})
		if isArmed(t, ep, m.src.fd) && m.selfArms.Load() == arms {
			t.Fatalf("call %d%s left the pipe armed with nothing for the reader", i, what)
		}
	}
	for i := range 100 {
		leftArmed(i, "")
	}
	// Armed between two calls (by the timer, after a pause): the next
	// Call disarms it.
	for i := range 50 {
		require.Eventually(t, func() bool { m.armIfFree(); return isArmed(t, ep, m.src.fd) }, 10*time.Second, time.Millisecond)
		leftArmed(i, " after the pipe was armed")
	}

	// With nothing for the reader, the pipe is armed restFor after the
	// last call, so that what comes later (here, the pipe's end when the
	// process stops) wakes the reader.
	restFor = restWas
	call()
	require.Eventually(t, func() bool { return isArmed(t, ep, m.src.fd) }, 10*time.Second, time.Millisecond,
		"the pipe is not armed again after the last call")
}

// isArmed reports whether fd is armed in epoll instance ep: its events in
// /proc/self/fdinfo/<ep> ("tfd: N events: HEX", proc_pid_fdinfo(5))
// include EPOLLIN; a one-shot entry that fired keeps only EPOLLONESHOT.
func isArmed(t *testing.T, ep, fd int) bool {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(ep))
	require.NoError(t, err)
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "tfd:" && f[1] == strconv.Itoa(fd) && f[2] == "events:" {
			ev, err := strconv.ParseUint(f[3], 16, 32)
			require.NoError(t, err)
			return ev&unix.EPOLLIN != 0
		}
	}
	t.Fatalf("descriptor %d is not in epoll instance %d", fd, ep)
	return false
}
