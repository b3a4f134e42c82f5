package mp

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipedProcess is a Process without a backend and without a reader
// goroutine: the test plays the backend, writing frames to the returned
// end of the message pipe. Commands and cancellations go into pipes that
// nobody reads (small ones fit).
func pipedProcess(t *testing.T) (*Process, *os.File) {
	t.Helper()
	var files []*os.File
	pipe := func() (*os.File, *os.File) {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		files = append(files, r, w)
		return r, w
	}
	t.Cleanup(func() { closeAll(files) })
	_, cmdW := pipe()
	_, cancW := pipe()
	outR, outW := pipe()
	m, err := newMsgPipe(outR)
	require.NoError(t, err)
	return &Process{
		kind: "Test", name: "piped",
		log:      NewLogger("Test.piped", Front),
		in:       newFrameWriter(cmdW),
		cancels:  newFrameWriter(cancW),
		pipe:     m,
		msgs:     make(chan Message, 8),
		inbox:    newInbox(),
		pending:  map[uint64]chan callResult{},
		stopping: make(chan struct{}),
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
	}, outW
}

// callResultWithin runs call and returns its error, or fails the test if
// it has not returned within d; then release lets it return, so that no
// goroutine is left behind.
func callResultWithin(t *testing.T, d time.Duration, call func() error, release func()) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- call() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(d):
		release()
		<-errc
		t.Fatalf("the call did not return within %v", d)
		return nil
	}
}

// Fault: a Call whose ctx ends while it reads a frame that is only half
// in the pipe (a large frame whose writer is stopped, here: the test
// writes half a message and stops) blocks in poll(2) for the rest of the
// frame and ignores its ctx. The test writes the first half of a message
// frame, then calls with a short timeout: the Call must return ctx's
// error at once, not when the rest of the frame comes.
func TestCallReturnsWhenItsCtxEndsInsideAFrame(t *testing.T) {
	p, w := pipedProcess(t)
	buf, err := appendFrame(nil, &frame{kind: kindMessage, command: "half", params: Params{"pad": make([]byte, 1000)}})
	require.NoError(t, err)
	_, err = w.Write(buf[:len(buf)/2])
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = callResultWithin(t, 5*time.Second,
		func() error { _, err := p.Call(ctx, "echo", nil); return err },
		func() { w.Write(buf[len(buf)/2:]) })
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "err = %v", err)
}

// Fault: a Call that has read its reply, together with the start of a
// frame behind it, routes what it read with the reply before it lets the
// pipe go, and so blocks until the rest of that frame comes, reply in
// hand. The test writes a reply and half a message in one write, then
// calls (without a deadline): the Call must return its reply.
func TestCallWithItsReplyDoesNotWaitForTheFrameBehindIt(t *testing.T) {
	p, w := pipedProcess(t)
	reply, err := appendFrame(nil, &frame{kind: kindReply, id: 1, command: "echo", params: Params{"v": 7}})
	require.NoError(t, err)
	msg, err := appendFrame(nil, &frame{kind: kindMessage, command: "half", params: Params{"pad": make([]byte, 1000)}})
	require.NoError(t, err)
	_, err = w.Write(append(reply, msg[:len(msg)/2]...))
	require.NoError(t, err)

	var got Message
	err = callResultWithin(t, 5*time.Second,
		func() (err error) { got, err = p.Call(context.Background(), "echo", nil); return err },
		func() { w.Write(msg[len(msg)/2:]) })
	require.NoError(t, err)
	v, err := got.Int("v")
	require.NoError(t, err)
	assert.Equal(t, 7, v)
}

// Calls from several goroutines with replies small and larger than the
// pipe (64 KiB), while the backend sends large messages and Messages has
// room for one: every call gets its own reply, whole, and every message
// arrives in order. Large frames are read by the reader goroutine, small
// ones by whichever goroutine holds the pipe.
func TestConcurrentCallersWithLargeFrames(t *testing.T) {
	const goroutines, calls, messages = 6, 15, 40
	p := startTest(t, Options{MessageBuffer: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan int, 1)
	go func() {
		n := 0
		for n < messages {
			select {
			case m := <-p.Messages():
				if i, _ := m.Int("i"); m.Command == "burst" && i == n {
					n++
				}
			case <-ctx.Done():
				got <- n
				return
			}
		}
		got <- n
	}()
	require.NoError(t, p.Send(ctx, "burst", Params{"n": messages, "size": 100 << 10}))
	sizes := []int{0, 1 << 10, 70 << 10, 300 << 10}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				size := sizes[(g+i)%len(sizes)]
				reply, err := p.Call(ctx, "echo", Params{"g": g, "i": i, "pad": make([]byte, size)})
				if !assert.NoError(t, err) {
					return
				}
				rg, _ := reply.Int("g")
				ri, _ := reply.Int("i")
				pad, _ := reply.Bytes("pad")
				assert.Equal(t, []int{g, i, size}, []int{rg, ri, len(pad)})
			}
		})
	}
	wg.Wait()
	assert.Equal(t, messages, <-got, "messages lost or out of order")
	require.NoError(t, ctx.Err())
}

// SIGTERM to an idle backend, whose loop is reading the command pipe, ends
// that read at once (a read deadline, see Backend.interruptRead): the
// backend exits cleanly, long before its grace timer (StopTimeout + 1 s,
// here an hour) would end it. Without the interruption the loop reads on
// until the grace timer fires, and Wait times out.
func TestSIGTERMInterruptsAnIdleBackendsRead(t *testing.T) {
	p := startTest(t, Options{StopTimeout: time.Hour})
	_, err := p.Call(context.Background(), "echo", nil) // the loop runs
	require.NoError(t, err)
	require.NoError(t, p.Signal(syscall.SIGTERM))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.Wait(ctx))
	assert.Equal(t, 0, p.ProcessState().ExitCode())
}

// Fault: a Call took its id before its turn to write the command pipe, so
// concurrent callers wrote their calls out of id order, and the backend,
// which takes a cancel for an id below the last call it started as one for
// a call already done, ignored the cancel of a call still to come: the
// call given up ran all the same. The test makes many concurrent calls to a
// handler that checks that each id is above the last.
func TestCallsReachTheBackendInIDOrder(t *testing.T) {
	const goroutines, calls = 8, 1000
	p := startTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var outOfOrder atomic.Int64
	for range goroutines {
		wg.Go(func() {
			for range calls {
				reply, err := p.Call(ctx, "order", nil)
				if !assert.NoError(t, err) {
					return
				}
				if ok, _ := reply.Bool("inorder"); !ok {
					outOfOrder.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Zero(t, outOfOrder.Load(), "calls out of id order (of %d)", goroutines*calls)
}
