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

// A reader that waits for the rest of a frame (pipeSource.Read) blocks its
// thread in poll(2) on the pipe alone: only the end of the pipe ends that
// wait. The stop ladder guarantees that end: a backend stalled half way
// through a message, deaf to SIGTERM, is killed when Shutdown's ctx ends,
// and the wait, the reader and the process all end with it.
func TestReaderWaitingMidFrameEndsWithShutdown(t *testing.T) {
	p := startTest(t, Options{})
	require.NoError(t, p.Send(context.Background(), "halfstall", nil))
	m := <-p.Messages()
	require.Equal(t, "stalling", m.Command)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "killed when ctx ended")
	assert.Less(t, time.Since(start), 5*time.Second)
	<-p.Done()
	for range p.Messages() { // closed: the reader ended
	}
}
