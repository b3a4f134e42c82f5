package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: the client's connection is closed for good while the client
// creates its removed results consumer again (revive, after it stopped the
// old consumer's loop). Creating fails, and revive tried again every
// second until Close; the Waits, which the old loop would have failed with
// nats.ErrConnectionClosed, lasted until their ctx. They now end with
// nats.ErrConnectionClosed, as Wait's doc says, and revive gives up. The
// test removes the consumer and closes the connection in between
// (beforeRecreate).
func TestConnectionClosedWhileRecreatingResults(t *testing.T) {
	s, nc := serverConn(t)
	admin, err := Connect(s.URL(), 0)
	require.NoError(t, err)
	defer admin.Close()
	// Set before the client's goroutines start, which read it.
	closed := make(chan struct{})
	beforeRecreate = func() {
		beforeRecreate = nil
		nc.Close()
		close(closed)
	}
	t.Cleanup(func() { beforeRecreate = nil })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := NewClient(ctx, nc, Config{})
	require.NoError(t, err)
	defer c.Close()
	task, err := Submit(ctx, c, mp.NewCommand[int, int]("unserved"), 1)
	require.NoError(t, err)

	js, err := jetstream.New(admin)
	require.NoError(t, err)
	require.NoError(t, js.DeleteConsumer(ctx, c.cfg.resultStream(), c.cons))
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("the client did not create its results consumer again")
	}

	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	_, err = task.Wait(wctx)
	require.ErrorIs(t, err, nats.ErrConnectionClosed)
	assert.NoError(t, wctx.Err(), "the Wait ended with its ctx")
}
