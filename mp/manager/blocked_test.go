package manager_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// watchedBuffer is a lockedBuffer that closes seen once a line containing
// want has been written: a test woken by seen finds the line in the buffer.
type watchedBuffer struct {
	*lockedBuffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	n, err := w.lockedBuffer.Write(p)
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// More messages than the manager can hold while its loop is blocked: the
// events channel's 256 batches of 256, the Messages channel's buffer and
// the queue behind it (4 × MessageBuffer).
const flood = 100_000

// floodAndOnFirst makes each worker send flood messages once ready, and runs
// first, on the loop, for the first message that arrives.
func floodAndOnFirst(t *testing.T, cfg *manager.Config, first func(w *manager.Worker)) {
	cfg.OnReady = func(w *manager.Worker) {
		require.NoError(t, burst.Send(context.Background(), w.Process(), flood))
	}
	seen := false
	cfg.OnMessage = func(w *manager.Worker, _ mp.Message) {
		if !seen {
			seen = true
			first(w)
		}
	}
}

// Fault: a callback on the loop Calls a worker while that worker sends. The
// loop takes no message while the callback waits, so the worker's Send
// waits for room, its loop for the Send, and the Call for the loop: without
// a deadline the Call waits forever, and nothing said why. The manager
// warns once the worker's messages have waited StillAlive for the loop.
func TestFaultCallbackWaitingForASendingWorkerIsReported(t *testing.T) {
	cfg, logs := config(1)
	cfg.StillAlive = 200 * time.Millisecond
	watched := &watchedBuffer{lockedBuffer: logs, want: "messages have waited", seen: make(chan struct{})}
	cfg.Log = slog.New(mplog.NewHandler(watched, "manager", mplog.Front, nil))
	got := make(chan error, 1)
	floodAndOnFirst(t, &cfg, func(w *manager.Worker) {
		// The test ends the Call once the warning is out (30 s at most:
		// then the warning never came).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() {
			select {
			case <-watched.seen:
				cancel()
			case <-ctx.Done():
			}
		}()
		_, err := doJob.Call(ctx, w.Process(), job{})
		got <- err
	})
	m, err := manager.New(cfg)
	require.NoError(t, err)
	cancel, wait := runManager(t, m)
	err = <-got
	require.ErrorIs(t, err, context.Canceled, "the warning did not come: %v", err)
	assert.Contains(t, logs.String(), "worker-1's messages have waited 200ms for the loop")
	cancel()
	assert.NoError(t, wait())
}

// What the warning advises: a Call made from a goroutine of the program
// while the worker sends is answered once the worker's handler is done, as
// the loop goes on taking the messages.
func TestCallFromAGoroutineWhileTheWorkerSends(t *testing.T) {
	cfg, logs := config(1)
	got := make(chan error, 1)
	floodAndOnFirst(t, &cfg, func(w *manager.Worker) {
		p := w.Process()
		go func() {
			_, err := doJob.Call(context.Background(), p, job{})
			got <- err
		}()
	})
	m, err := manager.New(cfg)
	require.NoError(t, err)
	cancel, wait := runManager(t, m)
	require.NoError(t, <-got)
	cancel()
	assert.NoError(t, wait())
	assert.NotContains(t, logs.String(), "messages have waited")
}

// Fault: no callback blocks, but the loop is slower than the workers: every
// OnMessage works 2 ms, and two workers flood. Their messages then wait for
// the loop behind whole batches (256 messages, half a second), longer than
// StillAlive, while every callback returns: flow control at work. The
// warning, which said a callback "has not returned", came all the same
// (found by a review, with 300 µs of work on a loaded machine). It now
// needs one callback running all the time the messages wait. Watched for
// ten times StillAlive.
func TestSlowCallbacksThatReturnAreNotReported(t *testing.T) {
	cfg, logs := config(2)
	cfg.StillAlive = 300 * time.Millisecond
	watched := &watchedBuffer{lockedBuffer: logs, want: "messages have waited", seen: make(chan struct{})}
	cfg.Log = slog.New(mplog.NewHandler(watched, "manager", mplog.Front, nil))
	cfg.OnReady = func(w *manager.Worker) {
		p := w.Process()
		go burst.Send(context.Background(), p, flood)
	}
	var longest time.Duration
	var stopping atomic.Bool
	cfg.OnMessage = func(*manager.Worker, mp.Message) {
		if stopping.Load() {
			return
		}
		start := time.Now()
		for time.Since(start) < 2*time.Millisecond { // the program's work
		}
		longest = max(longest, time.Since(start))
	}
	m, err := manager.New(cfg)
	require.NoError(t, err)
	cancel, wait := runManager(t, m)
	select {
	case <-watched.seen:
	case <-time.After(10 * cfg.StillAlive): // a measurement's length, not a synchronization
	}
	stopping.Store(true)
	cancel()
	assert.NoError(t, wait())
	if longest >= cfg.StillAlive {
		// Its 2 ms of work lost the CPU for longer than StillAlive (a
		// loaded machine: 552 ms once under make stress): that callback
		// did run all the time, and the warning was due.
		t.Skipf("a callback took %v, longer than StillAlive on this loaded machine: nothing to check", longest)
	}
	assert.NotContains(t, logs.String(), "messages have waited", "a warning though every callback returned (the longest took %v)", longest)
}
