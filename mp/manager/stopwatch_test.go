package manager_test

import (
	"context"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp/manager"
)

// Fault: a watched channel (Watch) floods the loop, its function takes
// 100 ms, and Run's ctx is cancelled with the loop's events full of its
// values. The workers' messages are dropped once the stop's deadline has
// passed, but the values of a watched channel were each passed to f before
// the loop reached the worker's exit behind them: Run returned 25 s after
// the cancel, where its doc promises about twice ShutdownTimeout (here
// 1 s) plus the callback running at that moment. Past the deadline, or
// once Force is closed, they are dropped and counted like messages.
func TestFaultWatchedFloodBehindSlowCallbacksDoesNotHoldTheStop(t *testing.T) {
	eachStop(t, watchedFloodThenStop)
}

// watchedFloodThenStop fills the loop's events with values of a watched
// channel behind a callback held by the test, cancels Run's ctx (and closes
// force, if not nil), lets the callbacks go at 100 ms each, and checks that
// Run returns within 10 s of the cancel, every value that reached the loop
// passed to f or counted in the warning.
func watchedFloodThenStop(t *testing.T, cfg manager.Config, logs *lockedBuffer, force chan struct{}, why string) {
	ready := make(chan struct{})
	var once sync.Once
	cfg.OnReady = func(*manager.Worker) { once.Do(func() { close(ready) }) }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	ch := make(chan int)
	holding, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	var fast atomic.Bool // the test has seen enough: callbacks return at once
	t.Cleanup(func() { fast.Store(true) })
	require.NoError(t, manager.Watch(m, ch, func(int) {
		if calls.Add(1) == 1 {
			close(holding)
			<-release // the loop is held while the values pile up
		} else if !fast.Load() {
			time.Sleep(100 * time.Millisecond) // the program's work: a slow callback
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- m.Run(ctx) }()
	<-ready

	// The first value holds the loop in f; the loop's events take 256
	// more, and the watcher holds the 258th: once every send has returned
	// and f holds the loop, 257 values have reached the loop.
	const sent = 258
	for i := range sent {
		ch <- i
	}
	<-holding
	cancel()
	if force != nil {
		close(force)
	}
	start := time.Now()
	close(release)
	select {
	case err := <-res:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Errorf("Run has not returned 10 s after the cancel (%d of %d values passed to f so far)", calls.Load(), sent)
		fast.Store(true)
		require.NoError(t, <-res)
	}
	t.Logf("Run returned %v after the cancel; %d of %d values passed to f", time.Since(start).Round(time.Millisecond), calls.Load(), sent)
	assert.Empty(t, tagged(), "processes left behind")

	dropped := count(t, logs.String(), `dropped (\d+) values? of watched channels that their function had not taken `+regexp.QuoteMeta(why))
	assert.Positive(t, dropped, "no value dropped %s\n%s", why, logs)
	// The 258th value may be lost unsaid if Run returns before the watcher
	// hands it over (see Watch).
	assert.InDelta(t, sent-0.5, calls.Load()+dropped, 0.5,
		"values unaccounted for: %d passed to f, %d dropped", calls.Load(), dropped)
}
