package mp

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mpgo/mp/internal/spin"

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
// another leave it unarmed, so that their replies do not wake the reader.
func TestMessagePipeStaysOutOfThePoller(t *testing.T) {
	spinWas := spin.Off
	t.Cleanup(func() { spin.Off = spinWas })
	p := startTest(t, Options{})
	m := p.conn.pipe
	var ep int
	require.NoError(t, m.eprc.Control(func(fd uintptr) { ep = int(fd) }))
	ctx := context.Background()
	_, err := p.Call(ctx, "echo", Params{"x": 1})
	require.NoError(t, err)

	assert.False(t, inThePoller(t, m.src.fd, ep), "the message pipe is in the runtime's poller")
	assert.True(t, inThePoller(t, ep), "the pipe's own epoll instance is not in the runtime's poller")

	// The calls run on one thread, waiting in the kernel (polling off);
	// the others (the runtime's, among them the one in epoll_wait) must
	// not wake for their replies.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	spin.Off = true
	tid := unix.Gettid()
	const calls = 1000
	before := otherSwitches(t, tid)
	for range calls {
		_, err := p.Call(ctx, "echo", Params{"x": 1})
		require.NoError(t, err)
	}
	// A pause of a millisecond between two calls (a test preempted on a
	// busy machine) arms the pipe, and the next reply wakes the reader
	// once: a few wake-ups are fine, one per reply is the fault.
	woken := otherSwitches(t, tid) - before
	assert.Less(t, woken, int64(calls/5), "other threads woke %d times in %d calls", woken, calls)
}

// otherSwitches is the count of voluntary context switches so far of this
// process's threads but thread tid (/proc/self/task/*/status,
// proc_pid_status(5)): how often they blocked and were woken.
func otherSwitches(t *testing.T, tid int) int64 {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	require.NoError(t, err)
	var n int64
	for _, task := range tasks {
		if filepath.Base(filepath.Dir(task)) == strconv.Itoa(tid) {
			continue
		}
		b, err := os.ReadFile(task)
		if err != nil {
			continue // the thread ended
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				k, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += k
			}
		}
	}
	return n
}
