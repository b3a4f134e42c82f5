package mp

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/mplog"
)

// Fault: a handler that never returns and ignores its context ("hang"), so
// only SIGKILL can end the backend. Shutdown with a context that ends must
// skip the rest of the ladder and kill it, long before the ladder's
// 2 × StopTimeout.
func TestShutdownContextSkipsToKill(t *testing.T) {
	p := startTest(t, Options{StopTimeout: time.Hour})
	require.NoError(t, p.Send(context.Background(), "hang", nil))
	<-p.Messages() // "hanging": the handler is running

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(ctx) }()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrBackendDied)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after its context ended")
	}
	st := p.ProcessState()
	require.NotNil(t, st)
	ws := st.Sys().(syscall.WaitStatus)
	assert.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "ended by %v", st)
}

// A backend that stops on its own when its pipe closes: Shutdown returns
// nil, and ProcessState says it exited 0.
func TestShutdownClean(t *testing.T) {
	p := startTest(t, Options{})
	assert.Nil(t, p.ProcessState(), "no state before the exit")
	require.NoError(t, p.Shutdown(context.Background()))
	require.NotNil(t, p.ProcessState())
	assert.Equal(t, 0, p.ProcessState().ExitCode())
	assert.NoError(t, p.Close(), "Stop after Shutdown")
}

// Signal(SIGTERM) cancels the running handler's context without waiting for
// it (the ladder's first rung would); after the exit it says the backend is
// gone instead of signalling whatever process has the PID now.
func TestSignal(t *testing.T) {
	p := startTest(t, Options{StopTimeout: 3 * time.Second})
	require.NoError(t, p.Send(context.Background(), "block", nil))
	<-p.Messages() // "blocking": the handler runs, until its ctx ends
	require.NoError(t, p.Signal(syscall.SIGTERM))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.Wait(ctx), "the handler returned, the loop ended: a clean exit")
	assert.ErrorIs(t, p.Signal(syscall.SIGTERM), ErrBackendDied)
}

// Options.Logger receives the frontend's lines about the process.
func TestOptionsLogger(t *testing.T) {
	var buf syncBuffer
	log := slog.New(mplog.NewHandler(&buf, "mine", mplog.Front, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := startTest(t, Options{Logger: log})
	require.NoError(t, p.Close())
	assert.Contains(t, buf.String(), "mine [front] - DEBUG - state stopping")
}
