package cluster_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: the only worker host is SIGKILLed during a task's last delivery,
// and stays away longer than AckWait (a host that restarts slowly, or
// later). A host that starts afterwards reports the task failed and it
// leaves the work queue. Before, the server gave the task up AckWait after
// the kill and said so only in its max-deliveries advisory, a plain NATS
// message that reached no host: the task stayed in the work queue for good
// and its Wait lasted until its ctx.
func TestLastDeliveryLostWithNoHostLeft(t *testing.T) {
	cfg := testConfig
	cfg.MaxDeliver = 1
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c := newClient(t, nc, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	host := startHostProcess(t, s.URL(), "MP_CLUSTER_TEST_MAXDELIVER=1")
	dir := t.TempDir()
	task, err := cluster.Submit(ctx, c, square, Job{N: 3, Dir: dir})
	require.NoError(t, err)
	waitFile(t, filepath.Join(dir, "run-1"))
	require.NoError(t, host.Process.Signal(syscall.SIGKILL))
	host.Wait()
	// The fault is this time without a host: three AckWaits, not a
	// stand-in for an event (the server's own give-up comes after one).
	<-time.After(3 * cfg.AckWait)

	startHost(t, nc, cfg, 1)
	_, err = task.Wait(ctx)
	require.ErrorIs(t, err, cluster.ErrFailed)
	assert.Contains(t, err.Error(), ": failed after its last delivery (1 delivery): no worker finished it (its host was lost, or handed it back)")
	assertQueueEmpty(t, nc, cfg)
}

// A task consumer made by an earlier build (MaxDeliver as in the Config,
// without the extra delivery) is refused with ErrConfig saying so, rather
// than as a Config that differs by one.
func TestEarlierBuildConsumerRefused(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	newClient(t, nc, testConfig) // the streams
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := jetstreamOf(t, nc)
	_, err := js.CreateConsumer(ctx, "MP_TASKS", jetstream.ConsumerConfig{
		Durable: "task-square", FilterSubject: "mp.task.square", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: testConfig.AckWait, MaxDeliver: testConfig.MaxDeliver, MaxAckPending: -1,
	})
	require.NoError(t, err)
	m, err := newManager(1)
	require.NoError(t, err)
	w := cluster.NewWorker(nc, testConfig, cluster.WorkerOptions{})
	cluster.Serve(w, square)
	err = w.Run(ctx, m)
	require.ErrorIs(t, err, cluster.ErrConfig)
	assert.Contains(t, err.Error(), "consumer task-square was made by an earlier build of mp/cluster")
}
