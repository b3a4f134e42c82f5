package mp

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/proctest"
)

// Fault: a pre-run hook sending 300,000 messages of 1 KiB before Start
// returned bypassed flow control (438 MiB held by the frontend). In PreRun
// a Send that finds no credit fails at once with ErrQueueFull.
func TestFaultPreRunSendsAreFlowControlled(t *testing.T) {
	const buffer = 4
	p := startTest(t, Options{MessageBuffer: buffer, Params: Params{"prerun_send": 10000}})
	reply, err := p.Call(context.Background(), "prerunerr", nil)
	require.NoError(t, err)
	text, _ := reply.Params.String("err")
	sent, _ := reply.Params.Int("sent")
	assert.Contains(t, text, ErrQueueFull.Error())
	assert.LessOrEqual(t, sent, 5*buffer, "messages sent before Start returned")
	got := 0
	for got < sent {
		m := <-p.Messages()
		require.Equal(t, "early", m.Command)
		got++
	}
}

// Fault: a reply larger than MaxFrameSize failed with a text naming the
// limit, but errors.Is(err, ErrFrameTooLarge) was false on the frontend.
func TestFaultRemoteErrorKeepsItsSentinel(t *testing.T) {
	p := startTest(t, Options{})
	_, err := p.Call(context.Background(), "bigreply", nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrHandler)
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	assert.NotErrorIs(t, err, ErrParam)
}

// Fault: the global limit of starts in progress (16) was held until each
// backend was ready, through its pre-run hook: sixteen slow starts of one
// kind made an unrelated Start time out. The limit covers the fork/exec
// only.
func TestFaultSlowPreRunsDoNotHoldOtherStarts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range starts.size + 2 {
		wg.Go(func() {
			// Their pre-run hooks wait until the test cancels the
			// starts (which kills their backends).
			p, err := slowKind.Start(ctx, Options{Name: "slow-" + string(rune('a'+i))})
			if err == nil {
				p.Close()
			}
		})
	}
	defer func() { cancel(); wg.Wait(); requireNoLeftovers(t) }()
	// Wait until the slow starts have all spawned their backends.
	require.Eventually(t, func() bool { return slowInPreRun() >= starts.size+2 }, 10*time.Second, 10*time.Millisecond)
	quick, qcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer qcancel()
	p, err := testKind.Start(quick, Options{Name: "quick"})
	require.NoError(t, err, "an unrelated Start waited for slow pre-run hooks")
	require.NoError(t, p.Close())
}

// slowBackend's pre-run hook waits until its backend is told to stop.
type slowBackend struct{ *Backend }

func (s *slowBackend) PreRun(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

var slowKind = NewKind("Slow", func(b *Backend) *slowBackend { return &slowBackend{b} })

// slowInPreRun counts this test binary's live "Slow" backends.
func slowInPreRun() int {
	n := 0
	for _, pid := range proctest.Tagged(os.Getenv(envTestTag)) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.Contains(string(b), "/slow-") {
			n++
		}
	}
	return n
}

// Fault: a Reply from a goroutine after its handler returned was written as
// a second reply frame, which the frontend dropped with only a debug line;
// the goroutine's Reply said nothing. It now fails with ErrLateReply, and
// so does a second Reply in the handler. The caller gets one answer.
func TestFaultLateAndSecondRepliesFail(t *testing.T) {
	p := startTest(t, Options{})
	ctx := context.Background()
	reply, err := p.Call(ctx, "replytwice", nil)
	require.NoError(t, err)
	assert.Equal(t, "first", reply.Command)
	m := <-p.Messages()
	require.Equal(t, "second", m.Command)
	text, _ := m.Params.String("err")
	assert.Contains(t, text, ErrLateReply.Error())

	reply, err = p.Call(ctx, "replylater", nil)
	require.NoError(t, err)
	assert.Equal(t, "", reply.Command, "the automatic reply, when the handler returned")
	require.NoError(t, p.Send(ctx, "golate", nil))
	m = <-p.Messages()
	require.Equal(t, "late", m.Command)
	text, _ = m.Params.String("err")
	assert.Contains(t, text, ErrLateReply.Error())
}
