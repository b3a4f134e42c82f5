package mp

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Call whose ctx ends behind an earlier call that was given up and has
// not been answered (its handler ignores its ctx, and the backend handles
// calls one at a time) says so, where it said only "context deadline
// exceeded" (a newcomer's second call after a timed-out one); once that
// call has been answered, a ctx that ends says nothing more than its error.
func TestCallBehindAnAbandonedCallSaysSo(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	p := startTest(t, Options{Files: []*os.File{r}})

	first, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := p.Call(first, "gate", nil); errc <- err }()
	require.Equal(t, "gated", (<-p.Messages()).Command)
	cancel()
	err = <-errc
	require.ErrorIs(t, err, context.Canceled)
	assert.NotContains(t, err.Error(), "has not answered", "nothing before it")

	second, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, err = p.Call(second, "pid", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Regexp(t, `: context deadline exceeded \(the backend, which handles calls one at a time, has not answered call "gate", given up [0-9.]+m?s ago: its handler may still run\)$`, err.Error())

	_, err = w.Write([]byte{1}) // the gate opens: its reply comes, and is dropped
	require.NoError(t, err)
	_, err = p.Call(context.Background(), "pid", nil)
	require.NoError(t, err)

	third, cancel3 := context.WithCancel(context.Background())
	go func() { _, err := p.Call(third, "gate", nil); errc <- err }()
	require.Equal(t, "gated", (<-p.Messages()).Command)
	cancel3()
	err = <-errc
	require.ErrorIs(t, err, context.Canceled)
	assert.NotContains(t, err.Error(), "has not answered", "the first was answered")
	_, err = w.Write([]byte{1})
	require.NoError(t, err)
}
