package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: two hosts of this build disagree on Config.MaxDeliver, the one
// that starts first saying one less (3, then 4). The consumer the first
// made has MaxDeliver 4 (3 plus the extra delivery), which equals the
// second's Config: that host was told the consumer "was made by an earlier
// build of mp/cluster" and to stop every host of that build, when the
// fault is a difference of Configs. A consumer of this build is now marked
// in its metadata, and the second host is told the MaxDeliver each side
// has; an unmarked consumer with the Config's MaxDeliver (an earlier
// build's) is still told as such.
func TestMaxDeliverMismatchIsNoEarlierBuild(t *testing.T) {
	_, nc := serverConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	host := func(maxDeliver int) *Worker {
		w := NewWorker(nc, Config{MaxDeliver: maxDeliver}, WorkerOptions{})
		require.NoError(t, w.err)
		return w
	}
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, ensureStreams(ctx, js, host(3).cfg))
	stream, err := js.Stream(ctx, host(3).cfg.taskStream())
	require.NoError(t, err)

	_, err = host(3).consumer(ctx, stream, "sq")
	require.NoError(t, err, "the first host makes the consumer")
	_, err = host(3).consumer(ctx, stream, "sq")
	require.NoError(t, err, "a host of the same Config uses it")
	_, err = host(4).consumer(ctx, stream, "sq")
	require.ErrorIs(t, err, ErrConfig)
	assert.NotContains(t, err.Error(), "earlier build")
	assert.Contains(t, err.Error(), "MaxDeliver 3, this host's Config 30s and 4")

	// A consumer as an earlier build made it: MaxDeliver the Config's, no mark.
	cfg := host(3).cfg
	_, err = stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: cfg.consumer("old"), FilterSubject: cfg.taskSubject("old"),
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait, MaxDeliver: cfg.MaxDeliver, MaxAckPending: -1,
	})
	require.NoError(t, err)
	_, err = host(3).consumer(ctx, stream, "old")
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "earlier build")
}
