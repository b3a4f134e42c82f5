package mp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Fault: the reader goroutine armed the pipe, then looked at the token and,
// finding a Call there, disarmed it again; when that Call had meanwhile let
// the token go and armed the pipe for its reply (it had stopped waiting in
// the kernel), the reader's disarm undid the Call's arm, and the reply
// waited for nobody: one task of 4,000 in part3/webview's test never
// finished (found by make stress). The reader now looks at the token and
// arms in one step, under the lock that orders arming. Here every Call
// leaves its reply to the reader (no polling, no wait in the kernel) while
// the backend sends a message every millisecond, so that the reader arms
// the pipe again and again beside the Calls.
func TestCallsLeavingRepliesToTheReaderAreNeverLost(t *testing.T) {
	// The fault injected: a pause of 200 µs in the reader's arming, after
	// its look at the token (before the fix: after it saw a Call there and
	// before it disarmed), where that Call can give up its wait, let the
	// token go and arm the pipe for its reply.
	setSpinOff(t, true)
	setForTest(t, &blockFor, 0)
	setForTest(t, &afterReaderLook, func() { time.Sleep(200 * time.Microsecond) }) // widens the race's window on purpose
	p := startTest(t, Options{})
	ctx := context.Background()
	_, err := p.Call(ctx, "tick", Params{"period_ms": 1, "phase_us": 0})
	require.NoError(t, err)
	go func() {
		for range p.Messages() {
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := p.Call(cctx, "echo", Params{"x": i})
		cancel()
		require.NoError(t, err, "call %d: its reply was not read", i)
	}
}
