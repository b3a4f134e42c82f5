package mp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: 99 unread 4 KiB messages wait on Messages when a Call is made. The
// reply must reach the Call at once (it used to wait behind the messages,
// on the one reader they shared, until the Call timed out). No message may
// be lost or reordered.
func TestReplyNeverWaitsBehindMessages(t *testing.T) {
	p := startTest(t, Options{})
	ctx := context.Background()
	require.NoError(t, p.Send(ctx, "burst", Params{"n": 99, "size": 4 << 10}))
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := p.Call(short, "pid", nil)
	require.NoError(t, err, "the reply waited behind unread messages")
	for i := range 99 {
		m := <-p.Messages()
		got, err := m.Params.Int("i")
		require.NoError(t, err)
		require.Equal(t, i, got)
	}
}

// Backpressure stays: a backend whose frontend does not read Messages is
// held back (its Send waits for credits) and goes on when they are read.
func TestUnreadMessagesHoldTheBackendBack(t *testing.T) {
	const buffer, n = 4, 40 // n beyond the channel (4) and the credits (4 × 4)
	p := startTest(t, Options{MessageBuffer: buffer})
	ctx := context.Background()
	require.NoError(t, p.Send(ctx, "burst", Params{"n": n}))
	// Handlers run one at a time: a call queued behind the burst cannot be
	// answered while the burst waits for credits.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := p.Call(short, "pid", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the burst was not held back")
	for i := range n {
		m := <-p.Messages()
		got, err := m.Params.Int("i")
		require.NoError(t, err)
		require.Equal(t, i, got)
	}
	_, err = p.Call(ctx, "pid", nil)
	require.NoError(t, err)
}

// Fault: a Call whose ctx ends while its handler runs. The handler's ctx
// must be cancelled (the "block" handler returns only then; it used to run
// until SIGTERM), so the backend is free for the next call at once.
func TestCallCancellationReachesTheHandler(t *testing.T) {
	p := startTest(t, Options{StopTimeout: 10 * time.Second})
	ctx := context.Background()
	cancel, errc := blockedCall(t, p)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)

	bounded, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	_, err := p.Call(bounded, "pid", nil)
	require.NoError(t, err, "the cancelled handler still runs")
	assert.Nil(t, p.ProcessState(), "the backend was not stopped")
}

// blockedCall starts a Call of "block", whose handler runs until its ctx
// ends, and returns once the handler runs, with the function that gives
// the call up and the channel its error comes on.
func blockedCall(t *testing.T, p *Process) (context.CancelFunc, <-chan error) {
	t.Helper()
	short, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := p.Call(short, "block", nil); errc <- err }()
	require.Equal(t, "blocking", (<-p.Messages()).Command, "the handler runs")
	return cancel, errc
}
