package mp

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// preRunEnder ends itself in its pre-run hook if its "end" parameter is
// "stop" (Backend.Stop) or "term" (SIGTERM to itself, waiting until it
// cancels the hook's ctx, and returning nil: a hook that ignores it).
type preRunEnder struct{ *Backend }

func (b *preRunEnder) PreRun(ctx context.Context) error {
	switch b.Params()["end"] {
	case "stop":
		b.Stop()
	case "term":
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		<-ctx.Done()
	}
	return nil
}

var preRunEnderKind = NewKind("PreRunEnder", func(b *Backend) *preRunEnder { return &preRunEnder{b} }).
	Handle("fds", func(b *preRunEnder, ctx context.Context, m Message) error {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return err
		}
		return b.Reply(ctx, m, "fds", Params{"n": len(ents)})
	})

// startPreRunEnder starts a preRunEnder named name whose "end" parameter is
// end, with a StopTimeout of a minute, so that an end through the stop
// ladder would show as a test that takes a minute. When the test ends it is
// shut down with a second's grace (then SIGKILL), and nothing of ours may be
// left.
func startPreRunEnder(t *testing.T, name, end string) *Process {
	t.Helper()
	p, err := preRunEnderKind.Start(context.Background(), Options{
		Name: name, StopTimeout: time.Minute, Params: Params{"end": end}})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p.Shutdown(ctx)
		requireNoLeftovers(t)
	})
	return p
}

// A backend that calls Stop in its pre-run hook, before its loop waits for
// a command (its nudge's byte goes into the pipe before any read, and the
// cancel pipe's reader already runs): the loop ends at once, with status
// 0, as it said; nothing waits for the stop ladder (StopTimeout a minute).
func TestBackendStoppedInPreRunEndsAtOnce(t *testing.T) {
	p := startPreRunEnder(t, "prerun-stop", "stop")
	requireEnded(t, p, 10*time.Second, "it called Stop in pre-run")
	assert.Equal(t, EndSelf, p.EndReason())
}

// An idle backend that its frontend closes ends through the command
// pipe's end, at once and as requested: not through the ladder's SIGTERM
// (StopTimeout a minute). It holds no more descriptors than before it
// served its first command, and as many after a hundred.
func TestCloseEndsAnIdleBackendAtOnce(t *testing.T) {
	p := startPreRunEnder(t, "idle-close", "")
	fds := func() int {
		r, err := p.Call(context.Background(), "fds", nil)
		require.NoError(t, err)
		n, err := r.Params.Int("n")
		require.NoError(t, err)
		return n
	}
	first := fds()
	for range 100 {
		fds()
	}
	assert.Equal(t, first, fds())
	t.Logf("descriptors of the backend: %d", first)
	requireIdleInPipeRead(t, p.Pid())
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waiting 10 s later: the backend did not see the command pipe's end")
	}
	t.Logf("Close took %v", time.Since(start))
	assert.Equal(t, EndRequested, p.EndReason())
}

// Fault (found by helper brk9b, older than the loop's read(2)): SIGTERM
// comes while the pre-run hook runs, and the hook returns nil. The backend
// announces its end and says it is ready, both after the signal cancelled
// its ctx: the ready frame was written with that ctx, and gave up when the
// announcement held the pipe, so that Start failed ("exited before it was
// ready") in about one start of four. Ready now goes out as a reply does
// (lastChance): Start returns the process, which then ends, terminated.
func TestBackendTerminatedInPreRunStartsThenEnds(t *testing.T) {
	for i := range 20 {
		p, err := preRunEnderKind.Start(context.Background(), Options{
			Name: fmt.Sprintf("prerun-term-%d", i), StopTimeout: time.Minute, Params: Params{"end": "term"}})
		require.NoError(t, err, "start %d", i)
		requireEnded(t, p, 10*time.Second, "SIGTERM in pre-run")
		assert.Equal(t, EndTerminated, p.EndReason())
	}
	requireNoLeftovers(t)
}
