package mp

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// blockLong makes Calls wait for their replies in the kernel for 10 s
// (see block.go), for the rest of the test: longer than the tests' 5 s
// bounds, so that a wait the ctx cannot end fails them. Polling is off, so that
// the reader goroutine, which takes the pipe's token while it polls, has
// let it go and waits in the runtime's poller whenever the test's process
// is quiet: a Call then always takes the token and waits in the kernel.
func blockLong(t *testing.T) {
	setForTest(t, &blockFor, 10*time.Second)
	setSpinOff(t, true)
}

// Fault: a Call waits for its reply in poll(2), where the runtime cannot
// wake it; its ctx must still end the wait at once (the waker eventfd).
func TestCallBlockedInTheKernelEndsWithItsContext(t *testing.T) {
	blockLong(t)
	p := startTest(t, Options{})
	_, err := p.Call(context.Background(), "pid", nil) // the start's frames all read
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = p.Call(ctx, "block", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second, "the call outlived its ctx")
	_, err = p.Call(context.Background(), "pid", nil)
	require.NoError(t, err, "the process works on")
}

// Fault: every Call in flight blocks a thread in the kernel; a thousand
// workers would take a thousand threads. At most maxBlockers do.
func TestCallsBlockingInTheKernelAreBounded(t *testing.T) {
	blockLong(t)
	bound := int(maxBlockers) + runtime.GOMAXPROCS(0) + 4
	n := bound + 16 // unbounded, as many threads as calls: well over
	thr0 := threads(t)
	cancels := make([]context.CancelFunc, 0, n)
	errcs := make([]<-chan error, 0, n)
	var procs []*Process
	t.Cleanup(func() {
		for _, p := range procs {
			p.Close()
		}
		requireNoLeftovers(t)
	})
	for i := range n {
		p, err := testKind.Start(context.Background(), Options{Name: "bounded-" + strconv.Itoa(i)})
		require.NoError(t, err)
		procs = append(procs, p)
		cancel, errc := blockedCall(t, p)
		cancels = append(cancels, cancel)
		errcs = append(errcs, errc)
	}
	// Each call has read its handler's first message: all wait now.
	grown := threads(t) - thr0
	for i, cancel := range cancels {
		cancel()
		require.ErrorIs(t, <-errcs[i], context.Canceled)
	}
	assert.LessOrEqual(t, grown, bound, "threads added while %d calls wait", n)
}

// Fault: the pipe stays unarmed while Calls read their own replies
// (msgPipe.letGo); a message that comes after the last call, with no Call
// to read it, must still reach Messages.
func TestMessagesAfterCallsAreDelivered(t *testing.T) {
	p := startTest(t, Options{})
	ctx := context.Background()
	for i := range 200 {
		_, err := p.Call(ctx, "echo", Params{"i": i})
		require.NoError(t, err)
		require.NoError(t, p.Send(ctx, "echo", Params{"i": i}))
		select {
		case m := <-p.Messages():
			n, _ := m.Params.Int("i")
			require.Equal(t, i, n)
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the message after the call never came", i)
		}
	}
}

// Fault: an event's Wait waits for its doorbell in poll(2), where the
// runtime cannot wake it; its ctx must still end the wait at once.
func TestEventWaitInTheKernelEndsWithItsContext(t *testing.T) {
	blockLong(t)
	p := startTest(t, Options{Events: 1})
	ev, err := p.NewEvent()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.ErrorIs(t, ev.Wait(ctx), context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second, "the wait outlived its ctx")
	require.NoError(t, ev.Set())
	require.NoError(t, ev.Wait(context.Background()), "the event works on")
}

// Fault: waitSoon waits again, with what is left of blockFor, after a
// wake-up that gave try nothing (here a pipe that stays readable, whose
// data try never takes). It counts that time down with ppoll(2)'s own
// account of the time left, not with the clock: a wait that did not take
// the time spent from the time left would start over at every wake-up and
// never end.
func TestWaitSoonEndsAfterBlockForThoughWokenEachTime(t *testing.T) {
	setForTest(t, &blockFor, 20*time.Millisecond)
	var p [2]int
	require.NoError(t, unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK))
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	_, err := unix.Write(p[1], []byte("x")) // readable from now on
	require.NoError(t, err)

	tries := 0
	done := make(chan bool, 1)
	go func() {
		done <- waitSoon(context.Background(), p[0], func() bool { tries++; return false }, nil)
	}()
	select {
	case got := <-done:
		assert.False(t, got, "try never returned true")
		assert.Greater(t, tries, 1, "the pipe woke the wait more than once")
	case <-time.After(10 * time.Second):
		t.Fatal("waitSoon did not end within 500 times blockFor")
	}
}
