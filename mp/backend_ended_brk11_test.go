package mp

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// brk11Kind's handler "sendended" sends a message with a ctx that has
// already ended, and replies with that Send's error.
var brk11Kind = NewKind("Brk11", func(b *Backend) *Backend { return b }).
	Handle("sendended", func(b *Backend, ctx context.Context, m Message) error {
		ended, cancel := context.WithCancelCause(ctx)
		cancel(errors.New("ended on purpose"))
		err := b.Send(ended, "after", nil)
		return b.Reply(ctx, m, "sent", Params{"err": fmt.Sprint(err)})
	})

// TestBackendSendWithEndedCtx pins what Backend.Send does with a ctx that
// has already ended, beside Process.Send, which sends nothing then: with a
// credit and room in the pipe, the message goes out and Send returns nil
// (a backend's last messages after SIGTERM, whose handler ctx has ended,
// still reach the frontend).
func TestBackendSendWithEndedCtx(t *testing.T) {
	p, err := brk11Kind.Start(context.Background(), Options{Name: "t-brk11-sendended"})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close(); requireNoLeftovers(t) })
	reply, err := p.Call(context.Background(), "sendended", nil)
	require.NoError(t, err)
	got, _ := reply.Params.String("err")
	assert.Equal(t, "<nil>", got, "Backend.Send with an ended ctx")
	m, err := p.Recv(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "after", m.Command)
}
