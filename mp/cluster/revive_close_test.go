package cluster

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: Close while the client makes its removed results consumer again
// (revive, held here at beforeRecreate). Close returned at once and left
// revive running, which could make the consumer again after Close had
// deleted it, and outlived the client (rev12 noticed it). Close now waits
// for it: it must be seen waiting, and once revive is let go, return with
// no revive left.
func TestCloseWaitsForARevive(t *testing.T) {
	_, nc := serverConn(t)
	held, release := make(chan struct{}), make(chan struct{})
	beforeRecreate = func() {
		beforeRecreate = nil
		close(held)
		<-release
	}
	t.Cleanup(func() { beforeRecreate = nil })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := NewClient(ctx, nc, Config{})
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, js.DeleteConsumer(ctx, c.cfg.resultStream(), c.cons))
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the client did not notice its results consumer was removed")
	}

	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	for proctest.GoroutinesIn("(*Client).Close", "(*WaitGroup).Wait") == 0 {
		select {
		case <-closed:
			t.Fatal("Close returned while a revive still ran")
		case <-ctx.Done():
			t.Fatal("Close neither returned nor waited for the revive")
		default:
			runtime.Gosched()
		}
	}
	close(release)
	<-closed
	assert.False(t, proctest.GoroutinesIn("(*Client).revive") > 0, "a revive outlived Close")
}
