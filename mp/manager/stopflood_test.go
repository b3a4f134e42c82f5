package manager_test

import (
	"context"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// Fault: callbacks of 1 ms with a flood of messages behind them, then a
// cancel. The manager holds up to 256 batches of 256 messages between a
// worker and its loop, and Run passed every one of them to OnMessage
// before it returned: with 30,000 messages sent, it had delivered 8,300 to
// 9,000 in the 10 s after the cancel, with the rest still to come. The
// stop's deadline (ShutdownTimeout, here 1 s), or Force, bounds the
// delivery: Run must return within 10 s of the cancel (a generous bound).
func TestFaultFloodBehindSlowCallbacksDoesNotHoldTheStop(t *testing.T) {
	eachStop(t, floodThenStop)
}

// eachStop runs stop, a test of a bounded stop, once ended by the stop's
// deadline (ShutdownTimeout 1 s) and once forced (ShutdownTimeout 1 min,
// force to close), with why the reason its drop warning must give.
func eachStop(t *testing.T, stop func(t *testing.T, cfg manager.Config, logs *lockedBuffer, force chan struct{}, why string)) {
	t.Run("deadline", func(t *testing.T) {
		cfg, logs := config(1)
		cfg.ShutdownTimeout = time.Second
		stop(t, cfg, logs, nil, "when the stop's deadline passed (ShutdownTimeout 1s)")
	})
	t.Run("forced", func(t *testing.T) {
		cfg, logs := config(1)
		cfg.ShutdownTimeout = time.Minute
		force := make(chan struct{})
		cfg.Force = force
		stop(t, cfg, logs, force, "when the stop was forced")
	})
}

// floodThenStop runs a manager of one worker whose callbacks take 1 ms, has
// the worker send 30,000 messages, cancels Run's ctx once they have all
// left the worker (and closes force, if not nil), and checks that Run
// returns within 10 s. No message may be lost unsaid: each one sent was
// passed to OnMessage, or dropped by the manager (its warning says how
// many, and why) or by the stopping process (its log says how many).
func floodThenStop(t *testing.T, cfg manager.Config, logs *lockedBuffer, force chan struct{}, why string) {
	const n = 30_000
	procLogs := &lockedBuffer{}
	cfg.Start = func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
		log := slog.New(mplog.NewHandler(procLogs, "TestWorker", mplog.Front, nil))
		return testWorkers.Start(ctx, mp.Options{Name: w.Name(), Logger: log})
	}
	sent := make(chan error, 1)
	cfg.OnReady = func(w *manager.Worker) {
		p := w.Process()
		go func() { _, err := burst.Call(context.Background(), p, n); sent <- err }()
	}
	var delivered atomic.Int64
	var fast atomic.Bool // the test has seen enough: callbacks return at once
	t.Cleanup(func() { fast.Store(true) })
	cfg.OnMessage = func(*manager.Worker, mp.Message) {
		delivered.Add(1)
		if !fast.Load() {
			time.Sleep(time.Millisecond) // the program's work: a slow callback
		}
	}
	m, err := manager.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- m.Run(ctx) }()

	// Once the burst's Call has returned, every message has left the
	// worker: they wait in the frontend, most of them in the manager.
	select {
	case err := <-sent:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("the worker did not finish sending")
	}
	cancel()
	if force != nil {
		close(force)
	}
	start := time.Now()
	select {
	case err := <-res:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Errorf("Run has not returned 10 s after the cancel (%d of %d messages delivered so far)", delivered.Load(), n)
		fast.Store(true)
		require.NoError(t, <-res)
	}
	t.Logf("Run returned %v after the cancel; %d of %d messages delivered", time.Since(start).Round(time.Millisecond), delivered.Load(), n)
	assert.Empty(t, tagged(), "processes left behind")

	byManager := count(t, logs.String(), `dropped (\d+) messages? of 1 worker that OnMessage had not taken `+regexp.QuoteMeta(why))
	assert.Positive(t, byManager, "no message dropped %s: was the flood behind the callbacks at all?\n%s", why, logs)
	byProcess := count(t, procLogs.String(), `dropped (\d+) messages in all while the process stopped`)
	if byProcess == 0 && strings.Contains(procLogs.String(), `dropped message "tick"`) {
		byProcess = 1
	}
	assert.Equal(t, int64(n), delivered.Load()+byManager+byProcess,
		"messages unaccounted for: %d delivered, %d dropped by the manager, %d by the process", delivered.Load(), byManager, byProcess)
}

// count returns the number that pattern's group matches in logs, or 0.
func count(t *testing.T, logs, pattern string) int64 {
	t.Helper()
	sub := regexp.MustCompile(pattern).FindStringSubmatch(logs)
	if sub == nil {
		return 0
	}
	k, err := strconv.ParseInt(sub[1], 10, 64)
	require.NoError(t, err)
	return k
}
