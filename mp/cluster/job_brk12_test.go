package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/mpgo/mp/mp/manager"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Blob asks for a reply of Reply bytes, or an error of ErrLen bytes.
type Blob struct {
	Reply  int
	ErrLen int
}

var blob = mp.NewCommand[Blob, []byte]("blob")

type blobWorker struct{ *mp.Backend }

func (*blobWorker) blob(_ context.Context, b Blob) ([]byte, error) {
	if b.ErrLen > 0 {
		return nil, errors.New(strings.Repeat("e", b.ErrLen))
	}
	return make([]byte, b.Reply), nil
}

var blobWorkers = mp.NewKind("BlobWorker", func(b *mp.Backend) *blobWorker { return &blobWorker{b} })

func init() { mp.HandleCommand(blobWorkers, blob, (*blobWorker).blob) }

// startBlobHost runs a worker host of one blob worker until the end of the
// test.
func startBlobHost(t *testing.T, nc *nats.Conn) {
	t.Helper()
	m, err := manager.New(manager.Config{
		Workers: 1, StillAlive: -1, Log: mplog.New("manager", mplog.Front),
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return blobWorkers.Start(ctx, mp.Options{Name: w.Name()})
		},
	})
	require.NoError(t, err)
	w := cluster.NewWorker(nc, testConfig, cluster.WorkerOptions{})
	cluster.Serve(w, blob)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, m) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// Fault: a handler returns a reply larger than the server's maximum
// payload. The task fails on its first delivery with ErrReplyTooLarge
// naming both sizes, and the host goes on. Before, storing the result
// failed, the task was left unacknowledged and ran MaxDeliver times, one
// AckWait apart, and was then reported "failed after its last delivery: no
// worker finished it (its host was lost...)": the wrong cause, 3 runs and
// (with the default AckWait) 90 s later.
func TestReplyTooLarge(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startBlobHost(t, nc)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	_, err := cluster.Call(ctx, c, blob, Blob{Reply: int(nc.MaxPayload())})
	require.ErrorIs(t, err, cluster.ErrReplyTooLarge)
	var te *cluster.TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, te.Deliveries, "not run again")
	assert.Contains(t, err.Error(), "the server accepts at most")
	assert.Equal(t, 1, strings.Count(err.Error(), "cluster:"), err.Error())

	r, err := cluster.Call(ctx, c, blob, Blob{Reply: 10})
	require.NoError(t, err)
	assert.Len(t, r, 10)
	assertQueueEmpty(t, nc, testConfig)
}

// Fault: a handler returns an error whose text is larger than the server's
// maximum payload (a wrapped response body, say). The task fails with
// ErrHandler at its first delivery, the text cut to a few KiB with how
// much was left out. Before, the result could not be stored and the task
// ran MaxDeliver times before being reported lost.
func TestHandlerErrorTooLarge(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startBlobHost(t, nc)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	_, err := cluster.Call(ctx, c, blob, Blob{ErrLen: int(nc.MaxPayload())})
	require.ErrorIs(t, err, cluster.ErrHandler)
	var te *cluster.TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, te.Deliveries, "not run again")
	assert.Less(t, len(te.Msg), 5000)
	assert.Contains(t, te.Msg, "bytes more)")
	assertQueueEmpty(t, nc, testConfig)
}
