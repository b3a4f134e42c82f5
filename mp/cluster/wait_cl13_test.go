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

// Fault: a Wait whose result is already there is called with a ctx that
// has ended too (a deadline that passed while the program did something
// else, after the result came). Wait's select picked either case at
// random: half the time it returned ctx's error with the result in hand
// (a program that gives up on ctx's error lost a result it had). The
// result now wins: twenty such Waits all return it (without the fix, the
// chance that all twenty do is one in a million).
func TestWaitPrefersAResultToAnEndedCtx(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startHost(t, nc, testConfig, 1)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	task, err := cluster.Submit(ctx, c, square, Job{N: 6})
	require.NoError(t, err)
	r, err := task.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 36, r.Square)

	ended, stop := context.WithCancel(ctx)
	stop()
	for range 20 {
		r, err := task.Wait(ended)
		require.NoError(t, err, "the result is there")
		assert.Equal(t, 36, r.Square)
	}
}
