package manager

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp"
)

// loopFor returns a Manager for one worker whose loop state is set up as Run
// sets it, without starting anything: the test plays the loop, handing it
// events itself. Its log goes to the returned buffer.
func loopFor(t *testing.T, ctx context.Context, cfg Config) (*Manager, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	cfg.Workers = 1
	cfg.Start = func(context.Context, *Worker) (*mp.Process, error) { panic("no start in this test") }
	cfg.Log = slog.New(slog.NewTextHandler(logs, nil))
	m, err := New(cfg)
	require.NoError(t, err)
	m.runCtx = ctx
	m.workCtx, m.endWork = context.WithCancel(context.WithoutCancel(ctx))
	m.killCtx, m.killAll = context.WithCancel(context.Background())
	t.Cleanup(func() {
		m.endWork()
		m.killAll()
		if m.endStop != nil {
			m.endStop()
		}
	})
	return m, logs
}

// batch is an evMessages event of n messages from m's worker.
func batch(m *Manager, n int) event {
	msgs := make([]mp.Message, n)
	for i := range msgs {
		msgs[i] = mp.Message{Command: "tick"}
	}
	return event{kind: evMessages, w: m.workers[0], msgs: msgs}
}

// Fault: the loop took notice of the end of Run's ctx, and of Force, only
// between two events, so a batch of up to 256 slow callbacks ran whole
// before the stop began, and its deadline with it. The stop now begins
// at the next message: a callback cancels ctx at the 3rd message of a
// batch of 10, and the 4th already runs during the stop; with Force closed
// at the 5th, the 6th and the rest are dropped, and counted.
func TestStopNoticedWithinABatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	force := make(chan struct{})
	var m *Manager
	var stopping []bool // m.stopping as each callback saw it
	cfg := Config{ShutdownTimeout: time.Hour, Force: force}
	cfg.OnMessage = func(*Worker, mp.Message) {
		stopping = append(stopping, m.stopping)
		switch len(stopping) {
		case 3:
			cancel()
		case 5:
			close(force)
		}
	}
	m, logs := loopFor(t, ctx, cfg)
	m.handle(batch(m, 10))
	assert.Equal(t, []bool{false, false, false, true, true}, stopping, "m.stopping at each callback")
	assert.True(t, m.forced, "Force was not noticed")
	assert.Equal(t, 5, m.dropped)
	m.reportDropped()
	assert.Contains(t, logs.String(), "dropped 5 messages of 1 worker that OnMessage had not taken when the stop was forced")
}

// Once the stop's deadline has passed, a batch is dropped whole, and
// counted; before, every message goes to OnMessage.
func TestDeadlinePassedDropsTheBatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	cfg := Config{ShutdownTimeout: time.Hour, OnMessage: func(*Worker, mp.Message) { calls++ }}
	m, logs := loopFor(t, ctx, cfg)
	m.handle(batch(m, 4))
	require.Equal(t, 4, calls)
	cancel()
	m.handle(batch(m, 4)) // the stop begins, its deadline an hour away
	require.Equal(t, 8, calls)
	m.endStop() // the deadline passes
	m.handle(batch(m, 4))
	m.handle(batch(m, 3))
	assert.Equal(t, 8, calls)
	assert.Equal(t, 7, m.dropped)
	m.reportDropped()
	assert.Contains(t, logs.String(), "dropped 7 messages of 1 worker that OnMessage had not taken when the stop's deadline passed (ShutdownTimeout 1h0m0s)")
}

// A value of a watched channel goes as a message does: to its function
// during the stop, dropped and counted once the deadline has passed.
func TestDeadlinePassedDropsWatchedValues(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	m, logs := loopFor(t, ctx, Config{ShutdownTimeout: time.Hour})
	value := event{kind: evWatched, fn: func() { calls++ }}
	m.handle(value)
	cancel()
	m.handle(value) // the stop begins, its deadline an hour away
	require.True(t, m.stopping)
	require.Equal(t, 2, calls)
	m.endStop() // the deadline passes
	m.handle(value)
	m.handle(value)
	assert.Equal(t, 2, calls)
	assert.Equal(t, 2, m.droppedValues)
	m.reportDropped()
	assert.Contains(t, logs.String(), "dropped 2 values of watched channels that their function had not taken when the stop's deadline passed (ShutdownTimeout 1h0m0s)")
	assert.NotContains(t, logs.String(), "OnMessage", "no message was dropped")
}
