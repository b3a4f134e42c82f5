package main

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file show the mistakes docs/your-program.md warns
// about, as they happen today: if the library changes what they do, the
// page must change too.

// chatty sends n "progress" messages of its own before it replies.
type chatty struct{ *mp.Backend }

func (c *chatty) work(ctx context.Context, m mp.Message) error {
	n, err := m.Params.Int("n")
	if err != nil {
		return err
	}
	for i := range n {
		if err := c.Send(ctx, "progress", mp.Params{"i": i}); err != nil {
			return err
		}
	}
	return c.Reply(ctx, m, "done", nil)
}

var chatties = mp.NewKind("Chatty", func(b *mp.Backend) *chatty { return &chatty{b} }).
	Handle("work", (*chatty).work)

// startGreeter starts a process with a deadline of its own, cancelled when
// it returns: the deadline bounds the start only.
func startGreeter() (*mp.Process, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return greeters.Start(ctx, mp.Options{Name: "greeter-short"})
}

// TestStartContextBoundsOnlyTheStart: the process started by a helper whose
// context ends on return keeps working until it is stopped.
func TestStartContextBoundsOnlyTheStart(t *testing.T) {
	p, err := startGreeter()
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := p.Call(ctx, "greet", mp.Params{"name": "Ada"})
	require.NoError(t, err, "the process must outlive the context of its start")
	text, err := reply.Params.String("text")
	require.NoError(t, err)
	assert.Contains(t, text, "Ada")
	require.NoError(t, p.Close())
}

// TestMistakeUnreadMessages: a frontend that never reads Messages stalls
// its backend. With MessageBuffer 1, the channel holds one message and the
// queue behind it four (the backend's credits); the handler's sixth Send
// waits for a credit that never comes, so it never reaches its reply, and
// the call ends only with its own deadline.
func TestMistakeUnreadMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := chatties.Start(ctx, mp.Options{Name: "chatty", MessageBuffer: 1, StopTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })

	callCtx, callCancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer callCancel()
	_, err = p.Call(callCtx, "work", mp.Params{"n": 10})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestReadMessagesWhileCalling is the fix for the mistake above: a
// goroutine reads Messages while the call waits, and both complete. The
// messages come before the reply, but the goroutine may not have read them
// all when Call returns; Close drops what is still unread (see
// Process.Messages), so the test waits for them before it stops.
func TestReadMessagesWhileCalling(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := chatties.Start(ctx, mp.Options{Name: "chatty-read", MessageBuffer: 1})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })

	progress := make(chan int, 3)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for m := range p.Messages() {
			if m.Command == "progress" {
				i, _ := m.Params.Int("i")
				progress <- i
			}
		}
	}()
	reply, err := p.Call(ctx, "work", mp.Params{"n": 3})
	require.NoError(t, err)
	assert.Equal(t, "done", reply.Command)
	for want := range 3 {
		select {
		case i := <-progress:
			assert.Equal(t, want, i)
		case <-ctx.Done():
			t.Fatalf("got %d progress messages of 3", want)
		}
	}
	require.NoError(t, p.Close())
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("Messages was not closed after Close")
	}
}
