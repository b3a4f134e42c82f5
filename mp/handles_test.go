package mp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rule for handles the library reuses (issue 17): a use is never
// answered by something meant for an earlier use of the same handle.
// Event slots: TestFaultLateSetOfAClosedEventDoesNotSetTheNext; segment
// names: mp/shm's TestPIDReuse; workers in the manager's idle pool:
// TestFaultErrorFromAnotherProcessKeepsTheWorker (mp/manager). This is the
// one for calls.

// Fault: a Call gives up; its handler, cancelled, still replies. That late
// reply reaches the frontend before the next Call's own reply, always (the
// backend runs one handler at a time). If a call id were reused, the late
// reply would answer the next Call.
func TestLateReplyNeverAnswersTheNextCall(t *testing.T) {
	p := startTest(t, Options{})
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := p.Call(ctx, "block", Params{"reply": true})
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		m, err := p.Call(context.Background(), "pid", nil)
		require.NoError(t, err)
		assert.Equal(t, "pid", m.Command, "the next call got the reply meant for the one given up")
	}
}
