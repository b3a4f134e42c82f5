package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain: a worker started from a test is this test binary again.
func TestMain(m *testing.M) {
	mp.Init()
	os.Exit(m.Run())
}

// TestRun runs the whole pool: every task is done, in any order, and the
// results come out in order.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out strings.Builder
	require.NoError(t, run(ctx, &out, 2, 5))
	assert.Equal(t, `1 squared is 1
2 squared is 4
3 squared is 9
4 squared is 16
5 squared is 25
sum 55, on 2 workers
`, out.String())
}

// TestRunStopped: a ctx that ends before the tasks are done stops the pool;
// the tasks not done fail with mp.ErrStopped, and nothing is printed.
func TestRunStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out strings.Builder
	err := run(ctx, &out, 2, 5)
	assert.ErrorIs(t, err, mp.ErrStopped)
	assert.Empty(t, out.String())
}
