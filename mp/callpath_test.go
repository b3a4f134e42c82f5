package mp

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the call path with a real backend (startTest): calls from many
// goroutines, with large frames, messages between replies, and stops and
// exits racing them. The message pipe's hand-offs with a fake backend are
// in msgpipe_test.go, the connection on its own in conn_test.go.

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
				if i, _ := m.Params.Int("i"); m.Command == "burst" && i == n {
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
				rg, _ := reply.Params.Int("g")
				ri, _ := reply.Params.Int("i")
				pad, _ := reply.Params.Bytes("pad")
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
				if ok, _ := reply.Params.Bool("inorder"); !ok {
					outOfOrder.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Zero(t, outOfOrder.Load(), "calls out of id order (of %d)", goroutines*calls)
}

// Calls in flight from several goroutines while the backend stops itself
// (Backend.Stop) right after a reply: each Call returns, with its reply or
// with ErrBackendDied (it exited on its own), and Wait reports a clean exit.
func TestCallsWhileTheBackendStopsItselfAfterAReply(t *testing.T) {
	for i := range 30 {
		p := startTest(t, Options{Name: "selfstop"})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					if _, err := p.Call(context.Background(), "echo", Params{"i": i}); err != nil {
						assert.ErrorIs(t, err, ErrBackendDied)
						return
					}
				}
			})
		}
		_, err := p.Call(context.Background(), "stop", nil)
		assert.NoError(t, err)
		requireWithin(t, 5*time.Second, wg.Wait)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		assert.NoError(t, p.Wait(ctx))
		cancel()
	}
}

// Calls in flight from several goroutines while the frontend stops the
// process: each returns, with its reply or ErrStopped, and Stop is clean.
func TestCallsRacingStop(t *testing.T) {
	for range 30 {
		p := startTest(t, Options{Name: "racestop"})
		var wg sync.WaitGroup
		started := make(chan struct{}, 4)
		for range 4 {
			wg.Go(func() {
				for {
					_, err := p.Call(context.Background(), "echo", Params{"pad": make([]byte, 3000)})
					if err != nil {
						assert.ErrorIs(t, err, ErrStopped)
						return
					}
					select {
					case started <- struct{}{}:
					default:
					}
				}
			})
		}
		<-started // at least one call went through
		assert.NoError(t, p.Close())
		requireWithin(t, 5*time.Second, wg.Wait)
	}
}

// Several processes with a Messages buffer of one, each called from
// several goroutines with replies small and larger than the pipe, replies
// with messages before and after them: every reply is whole (run it with
// -race too).
func TestManyProcessesManyCallers(t *testing.T) {
	var ps []*Process
	for _, name := range []string{"many-a", "many-b", "many-c", "many-d"} {
		ps = append(ps, startTest(t, Options{Name: name, MessageBuffer: 1}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg, readers sync.WaitGroup
	for _, p := range ps {
		readers.Go(func() {
			for range p.Messages() {
			}
		})
		for g := range 4 {
			wg.Go(func() {
				sizes := []int{0, 100, 5000, 70 << 10}
				for i := range 40 {
					cmd := "echo"
					if i%3 == 0 {
						cmd = "replysend"
					}
					size := sizes[(g+i)%len(sizes)]
					r, err := p.Call(ctx, cmd, Params{"before": i%2 == 0, "pad": make([]byte, size)})
					if !assert.NoError(t, err) {
						return
					}
					pad, _ := r.Params.Bytes("pad")
					assert.Len(t, pad, size)
				}
			})
		}
	}
	wg.Wait()
	for _, p := range ps {
		assert.NoError(t, p.Close())
	}
	readers.Wait()
}

// Starting and stopping processes leaves no descriptor behind in the
// frontend.
func TestStartStopLeavesNoDescriptor(t *testing.T) {
	count := func() int {
		d, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(d)
	}
	require.NoError(t, startTest(t, Options{}).Close()) // what the first start sets up for good
	before := count()
	for range 30 {
		p, err := testKind.Start(context.Background(), Options{Name: "fds", Events: 2})
		require.NoError(t, err)
		_, err = p.Call(context.Background(), "echo", nil)
		require.NoError(t, err)
		require.NoError(t, p.Close())
	}
	assert.Equal(t, before, count(), "descriptors after 30 starts and stops")
}

// A backend that exits (os.Exit, status 0) inside the handler of a Call,
// while other Calls wait behind it: the pipe's end is met by whichever
// goroutine reads (often the Call itself, which polls the pipe), and every
// Call returns an error wrapping ErrBackendDied that says it exited on its
// own; Done closes and Wait reports the clean exit.
func TestBackendExitingDuringCallsFailsThemAll(t *testing.T) {
	for range 20 {
		p := startTest(t, Options{Name: "exitcall", Events: 1})
		errs := make(chan error, 5)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_, err := p.Call(context.Background(), "sleep", Params{"ms": 1})
				for err == nil {
					_, err = p.Call(context.Background(), "sleep", Params{"ms": 1})
				}
				errs <- err
			})
		}
		ev, err := p.NewEvent()
		require.NoError(t, err)
		_, err = p.Call(context.Background(), "setexit", Params{"event": ev.ID()})
		errs <- err
		requireWithin(t, 5*time.Second, wg.Wait)
		close(errs)
		for err := range errs {
			assert.ErrorIs(t, err, ErrBackendDied)
			assert.ErrorContains(t, err, "exited on its own")
		}
		requireWithin(t, 5*time.Second, func() { <-p.Done() })
		assert.NoError(t, p.Err())
	}
}

// Fault: a message comes right behind a reply that its Call read itself.
// The reader goroutine, woken by that message while the Call still held
// the pipe, saw the pipe taken and went back to wait; unless the Call wakes
// it when it lets go with data left, the message stays in the pipe until
// some later frame comes (here: never). Repeated, because it is a race.
func TestMessageBehindAReplyIsNotLeftInThePipe(t *testing.T) {
	p := startTest(t, Options{})
	ctx := context.Background()
	for i := range 500 {
		_, err := p.Call(ctx, "replysend", Params{"i": i})
		require.NoError(t, err)
		select {
		case m := <-p.Messages():
			got, err := m.Params.Int("i")
			require.NoError(t, err)
			require.Equal(t, i, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("call %d: the message behind its reply never came", i)
		}
	}
}

// Calls from many goroutines, each of whose handlers sends a message before
// and after its reply: whichever goroutine reads the pipe routes every
// frame it meets, so each call gets its own reply and every message arrives,
// those of one call in the order sent. Run under -race by .ci/run.
func TestCallersRouteEachOthersFrames(t *testing.T) {
	const goroutines, calls = 20, 25
	p := startTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seen := make(chan map[string]string, 1)
	go func() {
		last := map[string]string{} // the last message of each call
		for range 2 * goroutines * calls {
			select {
			case m := <-p.Messages():
				v, _ := m.Params.String("v")
				last[v] = m.Command
			case <-ctx.Done():
			}
		}
		seen <- last
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				want := fmt.Sprintf("%d/%d", g, i)
				reply, err := p.Call(ctx, "replysend", Params{"v": want, "before": true})
				if !assert.NoError(t, err) {
					return
				}
				got, _ := reply.Params.String("v")
				assert.Equal(t, want, got)
			}
		})
	}
	wg.Wait()
	last := <-seen
	require.NoError(t, ctx.Err(), "messages were lost")
	assert.Len(t, last, goroutines*calls)
	for v, command := range last {
		assert.Equal(t, "after", command, "call %s: its messages out of order", v)
	}
}
