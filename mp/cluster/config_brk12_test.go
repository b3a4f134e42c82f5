package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a Config whose durations are bare numbers, as if in seconds
// (AckWait: 2, Timeout: 10), which Go reads as nanoseconds. NewClient and
// Worker.Run refuse them with ErrConfig naming the field; before, the
// client accepted them, and the worker's keep-alive ticker of AckWait/3 = 0
// panicked the whole worker host at its first task.
func TestBareNumberDurationsRefused(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		cfg  cluster.Config
		want string
	}{
		{cluster.Config{AckWait: 2}, "AckWait 2ns: want at least 1ms"},
		{cluster.Config{AckWait: 30}, "AckWait 30ns: want at least 1ms"},
		{cluster.Config{Timeout: 10}, "Timeout 10ns: want at least 1ms"},
	} {
		_, err := cluster.NewClient(ctx, nc, tc.cfg)
		require.ErrorIs(t, err, cluster.ErrConfig, "client %+v", tc.cfg)
		assert.Contains(t, err.Error(), tc.want)

		m, err := newManager(1)
		require.NoError(t, err)
		w := cluster.NewWorker(nc, tc.cfg, cluster.WorkerOptions{})
		cluster.Serve(w, square)
		runCtx, stop := context.WithTimeout(ctx, 2*time.Second)
		err = w.Run(runCtx, m)
		stop()
		require.ErrorIs(t, err, cluster.ErrConfig, "worker %+v", tc.cfg)
		assert.Contains(t, err.Error(), tc.want)
	}
}
