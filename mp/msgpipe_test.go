package mp

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/mplog"
)

// Tests of the message pipe's reading (msgpipe.go): a Call that reads its
// own reply, the reader goroutine, and the token between them. Most of them
// play the backend themselves (pipedProcess, readingProcess), writing
// frames whole, in pieces, or half.

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
	p := &Process{
		kind: "Test", name: "piped",
		log:      mplog.New("Test.piped", mplog.Front),
		stopping: make(chan struct{}),
		ending:   make(chan struct{}),
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
	}
	p.conn = newFrontConn(p, p.name, p.log, cmdW, cancW, 8, p.stopping, p.done)
	require.NoError(t, p.conn.open(outR))
	return p, outW
}

// halfFrameMessage encodes a 1 KB message named "half", which the tests
// write in part, as a backend stopped half way would.
func halfFrameMessage(t *testing.T) []byte {
	t.Helper()
	buf, err := appendFrame(nil, &frame{kind: kindMessage, command: "half", params: Params{"pad": make([]byte, 1000)}})
	require.NoError(t, err)
	return buf
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
	buf := halfFrameMessage(t)
	_, err := w.Write(buf[:len(buf)/2])
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
	msg := halfFrameMessage(t)
	_, err = w.Write(append(reply, msg[:len(msg)/2]...))
	require.NoError(t, err)

	var got Message
	err = callResultWithin(t, 5*time.Second,
		func() (err error) { got, err = p.Call(context.Background(), "echo", nil); return err },
		func() { w.Write(msg[len(msg)/2:]) })
	require.NoError(t, err)
	v, err := got.Params.Int("v")
	require.NoError(t, err)
	assert.Equal(t, 7, v)
}

// readingProcess is pipedProcess with its reader goroutine running, as
// Start runs it; its "backend" is a sleep(1) the test may
// kill (the end of the pipe is the test's to close, as a dying backend's
// would be).
func readingProcess(t *testing.T) (*Process, *os.File) {
	t.Helper()
	p, w := pipedProcess(t)
	p.cmd = exec.Command("sleep", "60")
	require.NoError(t, p.cmd.Start())
	p.exited, p.setExit = context.WithCancel(context.Background())
	go p.conn.read()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		w.Close()
		p.CloseSend()
		<-p.done
	})
	return p, w
}

// A Call whose ctx ends leaves the start of a frame in the frame reader's
// buffer (the rest has not come); when the rest comes after the Call has
// let the pipe go, the reader goroutine, which waits only on the pipe, is
// woken by it and delivers the message. Repeated, so that the rest comes
// sometimes before the Call lets go and sometimes after.
func TestRestOfAFrameLeftByACallIsReadByTheReader(t *testing.T) {
	p, w := readingProcess(t)
	msg := halfFrameMessage(t)
	for i := range 200 {
		_, err := w.Write(msg[:len(msg)/2])
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		_, err = p.Call(ctx, "echo", nil)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		_, err = w.Write(msg[len(msg)/2:])
		require.NoError(t, err)
		select {
		case m := <-p.Messages():
			require.Equal(t, "half", m.Command, "round %d", i)
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the rest of the frame was never read", i)
		}
	}
}

// A Call leaves the start of a frame in the buffer and the rest never
// comes: the backend dies. The pipe's end wakes the reader goroutine,
// which reaps the process (Done closes).
func TestFrameLeftByACallThenTheBackendDies(t *testing.T) {
	p, w := readingProcess(t)
	msg := halfFrameMessage(t)
	_, err := w.Write(msg[:len(msg)/2])
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err = p.Call(ctx, "echo", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	p.cmd.Process.Kill()
	w.Close()
	select {
	case <-p.Done():
		assert.ErrorIs(t, p.Err(), ErrBackendDied)
	case <-time.After(5 * time.Second):
		t.Fatal("the process was not reaped")
	}
}

// requireWithin runs f and fails the test if it has not returned within d.
func requireWithin(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still waiting after %v", d)
	}
}

// A property test of the message pipe's hand-offs: a fake backend (a
// goroutine of the test) answers each call with its params, with messages
// before and after replies, of sizes from a few bytes to more than the
// pipe holds, written in random pieces with random pauses between them,
// while several goroutines call with timeouts from 50 µs (which give up
// half way through frames) to a second. Every message must arrive once, in
// order; every Call must return its own reply or its ctx's error, within a
// second of its ctx.
func TestMessagePipeHandOffsUnderRandomSplits(t *testing.T) {
	const goroutines, calls = 4, 150
	p, backend, sent := withRandomSplitBackend(t, 1)
	got := make(chan int, 1)
	go func() { // Messages, in order
		next := 0
		for m := range p.Messages() {
			if seq, _ := m.Params.Int("seq"); seq != next {
				t.Errorf("message %d came when %d was due", seq, next)
			}
			next++
		}
		got <- next
	}()

	callThroughRandomSplits(t, p, backend, goroutines, calls)
	select {
	case n := <-got:
		assert.Equal(t, *sent, n, "messages delivered")
	case <-time.After(10 * time.Second):
		t.Fatal("Messages did not close after the pipe ended")
	}
}

// withRandomSplitBackend returns a reading process whose backend is
// randomSplitBackend (seeded with seed and the clock), the channel that
// gives its result, and the count of messages it wrote (read it once the
// result came).
func withRandomSplitBackend(t *testing.T, seed uint64) (*Process, <-chan error, *int) {
	p, w := readingProcess(t)
	cmdR, cmdW, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { cmdR.Close() })
	p.conn.in = newFrameWriter(cmdW)
	rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
	sent := new(int)
	return p, randomSplitBackend(rng, cmdR, w, sent), sent
}

// callThroughRandomSplits calls p's fake backend from goroutines
// goroutines, calls times each, with timeouts from 50 µs (which give up
// half way through frames) to a second: each Call returns its own reply or
// its ctx's error, within a second of its ctx. Then it ends the backend,
// which must have written all, and the backend process (the pipe's end).
func callThroughRandomSplits(t *testing.T, p *Process, backend <-chan error, goroutines, calls int) {
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				timeout := []time.Duration{50 * time.Microsecond, time.Millisecond, time.Second}[(g+i)%3]
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				start := time.Now()
				r, err := p.Call(ctx, "echo", Params{"g": g, "i": i})
				cancel()
				assert.Less(t, time.Since(start), timeout+time.Second, "call %d/%d", g, i)
				if err != nil {
					assert.ErrorIs(t, err, context.DeadlineExceeded)
					continue
				}
				rg, _ := r.Params.Int("g")
				ri, _ := r.Params.Int("i")
				assert.Equal(t, []int{g, i}, []int{rg, ri}, "the reply of another call")
			}
		})
	}
	requireWithin(t, 2*time.Minute, wg.Wait)
	p.conn.in.close() // the fake backend ends: its pipe's end
	select {
	case err := <-backend:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the fake backend is still writing: nobody reads the pipe")
	}
	p.cmd.Process.Kill()
}

// randomSplitBackend is the fake backend of
// TestMessagePipeHandOffsUnderRandomSplits: it answers each call read from
// cmdR with its params, with up to two messages of random sizes before the
// reply (counted in *sent), and writes what it has to w in random pieces
// with random pauses, sometimes holding a reply back to write it with the
// next. It closes w and reports on the returned channel once cmdR ends.
func randomSplitBackend(rng *rand.Rand, cmdR, w *os.File, sent *int) <-chan error {
	backend := make(chan error, 1)
	go func() {
		defer w.Close()
		rd := newFrameReader(cmdR, MaxFrameSize)
		var out []byte
		flush := func() error { // out, in random pieces
			for len(out) > 0 {
				n := min(len(out), 1+rng.IntN(2*len(out)))
				if _, err := w.Write(out[:n]); err != nil {
					return err
				}
				out = out[n:]
				if rng.IntN(2) == 0 { // random pauses vary the reads' split on purpose
					time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
				}
			}
			return nil
		}
		for {
			fr, err := rd.read()
			if errors.Is(err, io.EOF) {
				backend <- flush()
				return
			}
			if err != nil {
				backend <- err
				return
			}
			for range rng.IntN(3) {
				size := []int{0, 10, 3000, 100 << 10}[rng.IntN(4)]
				out, _ = appendFrame(out, &frame{kind: kindMessage, command: "m", params: Params{"seq": *sent, "pad": make([]byte, size)}})
				*sent++
			}
			out, _ = appendFrame(out, &frame{kind: kindReply, id: fr.id, command: "r", params: fr.params})
			if rng.IntN(3) == 0 {
				continue // written with the next one's
			}
			if err := flush(); err != nil {
				backend <- err
				return
			}
		}
	}()
	return backend
}
