package mp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Provokes: a goroutine of a handler Sends right after the handler
// returned: it waits for its ctx, which dispatch cancels last of all,
// after the reply and after writeGathered, so the message comes within
// gatherWindow of the reply's write (mostly) and is gathered, with no
// write to come behind it and writeGathered already past (it found held
// false). Only the gathering timer writes it. Fault it catches: a message
// gathered after the handler's writeGathered with nothing to write it (the
// timer not armed, or armed only by writeGathered): it never arrives.
// Fails with the timer never armed (checked; most rounds gather).
func TestSendFromHandlersGoroutineAfterItReturnsArrives(t *testing.T) {
	for i := 0; i < 100 && !t.Failed(); i++ {
		be, rd, _ := inProcessBackend(t)
		sent := make(chan error, 1)
		hs := handlers{"spawn": func(ctx context.Context, m Message) error {
			go func() {
				<-ctx.Done() // the handler has returned
				sent <- be.Send(context.Background(), "late", Params{"i": i})
			}()
			return nil
		}}
		_, panicked := be.dispatch(callFrame(1, "spawn"), hs, []string{"spawn"})
		require.False(t, panicked)
		require.NoError(t, <-sent)
		got := make(chan frame, 1)
		go func() {
			for {
				fr, err := rd.read()
				if err != nil {
					close(got)
					return
				}
				if fr.kind == kindMessage {
					got <- fr
					return
				}
			}
		}()
		select {
		case fr, ok := <-got:
			require.True(t, ok, "the pipe ended before the message")
			assert.Equal(t, "late", fr.command)
			n, _ := fr.params.Int("i")
			assert.Equal(t, i, n, fmt.Sprint("round ", i))
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the message sent as the handler returned never went out", i)
		}
	}
}
