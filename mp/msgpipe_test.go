package mp

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a message comes right behind a reply that its Call read itself.
// The reader goroutine, woken by that message while the Call still held
// the pipe, saw the pipe taken and went back to wait; unless the Call wakes
// it when it lets go with data left, the message stays in the pipe until
// some later frame comes (here: never). Repeated, because it is a race.
func TestMessageBehindAReplyIsNotLeftInThePipe(t *testing.T) {
	p := startTest(t, Options{})
	ctx := context.Background()
	for i := range 500 {
		_, err := p.Call(ctx, "replysend", Params{"i": i})
		require.NoError(t, err)
		select {
		case m := <-p.Messages():
			got, err := m.Int("i")
			require.NoError(t, err)
			require.Equal(t, i, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("call %d: the message behind its reply never came", i)
		}
	}
}

// Calls from many goroutines, each of whose handlers sends a message before
// and after its reply: whichever goroutine reads the pipe routes every
// frame it meets, so each call gets its own reply and every message arrives,
// those of one call in the order sent. Run under -race by .ci/run.
func TestCallersRouteEachOthersFrames(t *testing.T) {
	const goroutines, calls = 20, 25
	p := startTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seen := make(chan map[string]string, 1)
	go func() {
		last := map[string]string{} // the last message of each call
		for range 2 * goroutines * calls {
			select {
			case m := <-p.Messages():
				v, _ := m.String("v")
				last[v] = m.Command
			case <-ctx.Done():
			}
		}
		seen <- last
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				want := fmt.Sprintf("%d/%d", g, i)
				reply, err := p.Call(ctx, "replysend", Params{"v": want, "before": true})
				if !assert.NoError(t, err) {
					return
				}
				got, _ := reply.String("v")
				assert.Equal(t, want, got)
			}
		})
	}
	wg.Wait()
	last := <-seen
	require.NoError(t, ctx.Err(), "messages were lost")
	assert.Len(t, last, goroutines*calls)
	for v, command := range last {
		assert.Equal(t, "after", command, "call %s: its messages out of order", v)
	}
}
