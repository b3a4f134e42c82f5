package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain: a backend started from a test is this test binary again.
func TestMain(m *testing.M) {
	mp.Init()
	os.Exit(m.Run())
}

// TestRun runs the whole program against a real backend: the typed call,
// its reports, the event, and the shared array each side changes.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out strings.Builder
	require.NoError(t, run(ctx, &out))
	assert.Equal(t, `data: [1 2 3 4 5 6 7 8]
progress: 2 of 4 squared
progress: 4 of 4 squared
square returned sum 30; data: [1 4 9 16 5 6 7 8]
negated; data: [-1 -4 -9 -16 -5 -6 -7 -8]
`, out.String())
}

// TestSquareRefusesABadSpan: a handler's error reaches the typed call as
// mp.ErrHandler, with its text, and the backend goes on.
func TestSquareRefusesABadSpan(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := startWithArray(t, ctx)
	require.NoError(t, err)
	_, err = square.Call(ctx, p, Span{From: 2, To: 99})
	assert.ErrorIs(t, err, mp.ErrHandler)
	assert.ErrorContains(t, err, "outside the array of 8 values")
	total, err := square.Call(ctx, p, Span{From: 0, To: 1})
	require.NoError(t, err, "the backend goes on after a handler's error")
	assert.Equal(t, Total{Sum: 0}, total)
	assert.NoError(t, p.Close())
}

// startWithArray starts a worker on a zeroed array of 8 values.
func startWithArray(t *testing.T, ctx context.Context) (*mp.Process, error) {
	t.Helper()
	data, err := shmCreate()
	require.NoError(t, err)
	t.Cleanup(func() { data.Close() })
	p, err := workers.Start(ctx, mp.Options{Name: "worker-t", Events: 1, Files: []*os.File{data.File()}, Params: mp.Params{"len": data.Len()}})
	if err == nil {
		t.Cleanup(func() { p.Close() })
	}
	return p, err
}

func shmCreate() (*shm.Array[float64], error) { return shm.CreateAnon[float64]("data", 8) }
