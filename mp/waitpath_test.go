package mp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a waiter that does not poll (MP_SPIN=0, an idle pipe, a busy
// machine) tried a read(2) before it waited in poll(2), which returns at
// once if data is there anyway: one system call more on each side of every
// round trip, on the path the other side waits for. Each side of a Call now
// reads once per round trip: the Call its reply, the backend's loop its
// command. /proc counts read(2)s per thread (the Call's, locked to its
// thread) and per process (the backend's).
func TestWaitersThatDoNotPollReadOncePerMessage(t *testing.T) {
	const calls = 200
	setSpinOff(t, true)
	p := startTest(t, Options{Env: []string{"MP_SPIN=0"}})
	ctx := context.Background()
	_, err := p.Call(ctx, "echo", nil) // the backend's loop runs
	require.NoError(t, err)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mine, theirs := readCalls(t, "thread-self"), readCalls(t, strconv.Itoa(p.Pid()))
	for range calls {
		_, err := p.Call(ctx, "echo", Params{"x": 1})
		require.NoError(t, err)
	}
	mine, theirs = readCalls(t, "thread-self")-mine, readCalls(t, strconv.Itoa(p.Pid()))-theirs

	t.Logf("read(2)s for %d calls: the calling thread %d, the backend %d", calls, mine, theirs)
	assert.GreaterOrEqual(t, mine, int64(calls/2), "the calls read their replies themselves")
	assert.LessOrEqual(t, mine, int64(calls+calls/10), "read(2)s of the calling thread for %d calls", calls)
	assert.LessOrEqual(t, theirs, int64(calls+calls/10), "read(2)s of the backend for %d calls", calls)
}

// readCalls returns the read(2)s (and the like) made so far by /proc/<who>:
// syscr in its io file.
func readCalls(t *testing.T, who string) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + who + "/io")
	require.NoError(t, err)
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "syscr: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	require.NoError(t, s.Err())
	require.Fail(t, fmt.Sprintf("no syscr in /proc/%s/io", who))
	return 0
}
