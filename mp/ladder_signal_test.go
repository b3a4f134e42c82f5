package mp

import (
	"context"
	"log/slog"
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
	assert.Equal(t, 1, strings.Count(logs.String(), "still running 200ms after SIGTERM: sending SIGKILL"), logs.String())
}
