package mp

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a call whose caller gave up before its handler started was
// skipped by the backend without an answer, so the frontend could not tell
// when the backend was free again: WaitAbandoned, which a pool calls before
// it hands the process to its next user, waited for ever behind such a
// call. The backend now answers a skipped call (the reply is dropped), and
// WaitAbandoned returns once the handler given up (here a gate, deaf to
// its ctx) has returned and the call behind it was skipped; it reports a
// call still running, without waiting, to a ctx that has ended, and
// returns nil once the process has exited.
func TestWaitAbandonedWaitsForTheCallsGivenUp(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	p := startTest(t, Options{Files: []*os.File{r}})
	ended, end := context.WithCancel(context.Background())
	end()
	require.NoError(t, p.WaitAbandoned(ended), "no call was given up")

	gaveUp := func() {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { _, err := p.Call(ctx, "gate", nil); errc <- err }()
		require.Equal(t, "gated", (<-p.Messages()).Command)
		cancel()
		require.ErrorIs(t, <-errc, context.Canceled)
	}
	gaveUp()
	behind, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = p.Call(behind, "pid", nil) // queued behind the gate: skipped
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, p.WaitAbandoned(ended), context.Canceled, "the gate still runs")

	waited := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		waited <- p.WaitAbandoned(ctx)
	}()
	_, err = w.Write([]byte{1}) // the gate returns; the call behind it is skipped
	require.NoError(t, err)
	require.NoError(t, <-waited, "the skipped call was never answered")
	require.NoError(t, p.WaitAbandoned(ended))
	_, err = p.Call(context.Background(), "pid", nil)
	require.NoError(t, err)

	gaveUp()
	require.NoError(t, p.Signal(syscall.SIGKILL))
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	assert.NoError(t, p.WaitAbandoned(ctx), "nothing runs in a process that has exited")
}
