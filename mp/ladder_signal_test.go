package mp

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a SIGTERM sent with Signal (as the manager does at a task's
// timeout), then Close, on a backend whose handler ignores both. The
// ladder used to send a second SIGTERM StopTimeout after the close and log
// "still running … after its command pipe was closed: sending SIGTERM", as
// if none had gone out (a newcomer read it so), and SIGKILL came a further
// StopTimeout later. Signal's SIGTERM is the ladder's second rung: the next
// is SIGKILL, logged as coming after SIGTERM, and no second SIGTERM.
func TestLadderAfterSignalsSIGTERM(t *testing.T) {
	var logs syncBuffer
	p := startTest(t, Options{StopTimeout: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, p.Send(context.Background(), "hang", nil))
	require.Equal(t, "hanging", (<-p.Messages()).Command)
	require.NoError(t, p.Signal(syscall.SIGTERM))
	assert.ErrorIs(t, p.Close(), ErrBackendDied)
	assert.Equal(t, "signal: killed", p.DescribeExit())
	assert.NotContains(t, logs.String(), "sending SIGTERM", "Signal sent it already")
	assert.Equal(t, 1, strings.Count(logs.String(), "after the SIGTERM that Signal sent: sending SIGKILL"), logs.String())
}

// Fault: Signal sends SIGTERM to a backend whose handler ignores it, and
// Close comes much later (3 StopTimeouts). The ladder's SIGKILL line said
// "still running <StopTimeout> after SIGTERM" though the SIGTERM had gone
// out four StopTimeouts before: it must say how long it really was, and
// that Signal sent it. Close's error said it "did not stop within" twice
// StopTimeout, as if the ladder had sent that SIGTERM: it says the same as
// the log line.
func TestLadderSaysHowLongAfterAnEarlySignal(t *testing.T) {
	// Short: the backend's own grace after SIGTERM (StopTimeout + 1 s)
	// must not end it before the ladder's SIGKILL, 4 StopTimeouts in.
	const stop = 50 * time.Millisecond
	var logs syncBuffer
	p := startTest(t, Options{StopTimeout: stop, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, p.Send(context.Background(), "hang", nil))
	require.Equal(t, "hanging", (<-p.Messages()).Command)
	require.NoError(t, p.Signal(syscall.SIGTERM))
	ctx, cancel := context.WithTimeout(context.Background(), 3*stop)
	defer cancel()
	require.ErrorIs(t, p.Wait(ctx), context.DeadlineExceeded, "the handler ignores SIGTERM")
	err := p.Close()
	assert.ErrorIs(t, err, ErrBackendDied)

	m := regexp.MustCompile(`still running (\S+) after the SIGTERM that Signal sent: sending SIGKILL`).FindStringSubmatch(logs.String())
	require.NotNil(t, m, logs.String())
	since, perr := time.ParseDuration(m[1])
	require.NoError(t, perr)
	assert.GreaterOrEqual(t, since, 4*stop, "Wait's 3 StopTimeouts and the ladder's first rung")
	assert.NotContains(t, logs.String(), fmt.Sprintf("still running %v after SIGTERM", stop), logs.String())
	assert.Contains(t, err.Error(), "did not stop within "+m[1]+" of the SIGTERM that Signal sent and was killed")
}

// Fault: Signal(SIGTERM) ends an idle backend, which exits with status 0;
// a Call after that, and a second Signal, failed with "backend died: it
// exited on its own (exit status 0)", though this frontend had told it to
// go. The error still wraps ErrBackendDied (Signal is not Close), and says
// that the SIGTERM Signal sent ended it.
func TestCallAfterSignalSaysSignalEndedIt(t *testing.T) {
	p := startTest(t, Options{})
	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.NoError(t, p.Wait(context.Background()), "a clean exit")
	_, err := p.Call(context.Background(), "pid", nil)
	require.ErrorIs(t, err, ErrBackendDied)
	assert.ErrorContains(t, err, "it exited after the SIGTERM that Signal sent (exit status 0)")
	assert.NotContains(t, err.Error(), "on its own")
	err = p.Signal(syscall.SIGTERM)
	require.ErrorIs(t, err, ErrBackendDied)
	assert.NotContains(t, err.Error(), "on its own")
}

// Fault: Signal(SIGTERM) after the backend exited on its own (Stop): no
// signal went out, but Signal recorded one, and the errors that follow
// would blame it. They still say the backend exited on its own.
func TestSignalAfterTheExitBlamesNoSignal(t *testing.T) {
	p := startTest(t, Options{})
	_, err := p.Call(context.Background(), "stop", nil)
	require.NoError(t, err)
	<-p.Done()
	require.ErrorIs(t, p.Signal(syscall.SIGTERM), ErrBackendDied)
	_, err = p.Call(context.Background(), "pid", nil)
	require.ErrorIs(t, err, ErrBackendDied)
	assert.ErrorContains(t, err, "it exited on its own")
}
