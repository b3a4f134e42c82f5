package cluster

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster/embedded"
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
	s, err := embedded.Start(embedded.Config{})
	require.NoError(t, err)
	defer s.Shutdown()
	nc, err := Connect(s.URL(), 0)
	require.NoError(t, err)
	defer nc.Close()
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
	for !stackHas("(*Client).Close", "(*WaitGroup).Wait") {
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
	assert.False(t, stackHas("(*Client).revive"), "a revive outlived Close")
}

// stackHas reports whether a goroutine's stack holds all of fns.
func stackHas(fns ...string) bool {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		all := true
		for _, fn := range fns {
			all = all && strings.Contains(g, fn)
		}
		if all {
			return true
		}
	}
	return false
}
