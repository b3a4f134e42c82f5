package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostOf returns a Worker of cfg on the connection of js, as Run sets it
// up.
func hostOf(t *testing.T, js jetstream.JetStream, cfg Config) *Worker {
	t.Helper()
	w := NewWorker(js.Conn(), cfg, WorkerOptions{})
	require.NoError(t, w.err)
	w.js = js
	return w
}

// Fault: a worker host's task consumer is deleted, and made again by a
// host of another Config (AckWait 5 s, this host's 30 s) before this host
// looks. remake found it there and said nothing: the host went on
// fetching tasks under rules it does not follow (its InProgress ticks
// for another AckWait). It is now refused with ErrConfig naming both,
// which ends the host's Run.
func TestRemadeConsumerOfAnotherConfigRefused(t *testing.T) {
	_, nc := serverConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	w := hostOf(t, js, Config{})
	require.NoError(t, ensureStreams(ctx, js, w.cfg))

	made, err := hostOf(t, js, Config{AckWait: 5 * time.Second}).remake(ctx, "sq")
	require.NoError(t, err)
	require.NotNil(t, made, "the other host made the consumer")
	_, err = w.remake(ctx, "sq")
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "consumer task-sq has AckWait 5s and MaxDeliver 3, this host's Config 30s and 3")
}

// staleStream answers its first Consumer call "not found", as the server
// did just before another host made the consumer.
type staleStream struct {
	jetstream.Stream
	asked *int
}

func (s staleStream) Consumer(ctx context.Context, name string) (jetstream.Consumer, error) {
	if *s.asked++; *s.asked == 1 {
		return nil, jetstream.ErrConsumerNotFound
	}
	return s.Stream.Consumer(ctx, name)
}

// Fault: two hosts of different Configs make the task consumer at the same
// moment (at start, or again after it was lost): both find none, and the
// second's create fails, the consumer being there with the first's
// Config. It got the server's "consumer already exists", and a host that
// met it while making the consumer again warned and fetched from the
// other's consumer; it now reads the consumer and is refused with
// ErrConfig naming both Configs.
func TestConsumerMadeMeanwhileByAnotherConfig(t *testing.T) {
	_, nc := serverConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	w := hostOf(t, js, Config{})
	require.NoError(t, ensureStreams(ctx, js, w.cfg))
	stream, err := js.Stream(ctx, w.cfg.taskStream())
	require.NoError(t, err)
	_, err = hostOf(t, js, Config{AckWait: 5 * time.Second}).consumer(ctx, stream, "sq")
	require.NoError(t, err)

	_, err = w.consumer(ctx, staleStream{stream, new(int)}, "sq")
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "consumer task-sq has AckWait 5s and MaxDeliver 3, this host's Config 30s and 3")
}
