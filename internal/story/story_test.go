package story

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPauseEndsWithItsContext(t *testing.T) {
	t.Setenv("MP_FAST", "false")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	assert.ErrorIs(t, Pause(ctx, time.Hour), context.Canceled)
	assert.Less(t, time.Since(start), time.Second)
}

func TestFastReadsABoolean(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "0": false, "false": false, "": false, "nonsense": false} {
		t.Setenv("MP_FAST", v)
		assert.Equal(t, want, Fast(), "MP_FAST=%q", v)
	}
}

// The exit status of a chapter: 0, 1 for a failure, 130 or 143 when a
// signal (from signal.NotifyContext) stopped it, whatever error that caused.
func TestStatus(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	assert.Equal(t, StatusOK, Status(context.Background(), log, nil))
	assert.Equal(t, StatusFailed, Status(context.Background(), log, errors.New("boom")))

	for sig, want := range map[syscall.Signal]int{syscall.SIGINT: StatusInterrupted, syscall.SIGTERM: StatusTerminated} {
		ctx, stop := signalContext(t, sig)
		assert.Equal(t, want, Status(ctx, log, context.Canceled), "%v", sig)
		stop()
	}
	assert.Contains(t, out.String(), "everything is cleaned up")
}

// signalContext is a signal.NotifyContext for sig, cancelled by sending sig
// to ourselves.
func signalContext(t *testing.T, sig syscall.Signal) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, stop := signal.NotifyContext(context.Background(), sig)
	require.NoError(t, syscall.Kill(os.Getpid(), sig))
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("%v did not arrive", sig)
	}
	return ctx, stop
}

// TestUsageText: the usage every chapter prints names the command a reader
// types, its other forms, then the flags; a chapter without flags says so.
func TestUsageText(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	assert.Equal(t, "usage: go run ./part9/x\n\nx takes no flags and no arguments.", UsageText("part9/x", fs))
	fs.Int("n", 3, "how many")
	assert.Equal(t, "usage: go run ./part9/x [flags]\n       go run ./part9/x -client ADDR\n\nflags:\n  -n int\n    \thow many (default 3)", UsageText("part9/x", fs, "-client ADDR"))
	assert.ErrorIs(t, HelpError{Usage: "u"}, flag.ErrHelp)
}
