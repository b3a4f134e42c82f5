package mp

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a frame whose writer's ctx ended half way goes on in the
// background; a backend that exited right then cut it, and the frontend
// lost the message (it saw its pipe end inside a frame). A backend now
// flushes its message pipe before it exits. Here a 1 MiB frame goes into a
// pipe (64 KiB) that nobody reads yet, with a ctx that ends once the pipe
// is full: while nobody reads, flush cannot be done (its bound ends it);
// once a reader drains the pipe, flush is done and the frame came whole.
func TestFlushWaitsForTheRestOfAFrame(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	fw := newFrameWriter(w)
	defer fw.close()
	big := bytes.Repeat([]byte{7}, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = fw.write(ctx, &frame{kind: kindMessage, command: "big", params: Params{"b": big}})
	require.ErrorIs(t, err, errRestFollows, "the pipe cannot take 1 MiB before the ctx ends")

	bounded, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	assert.False(t, fw.flush(bounded), "flush was done while the rest of the frame could not go out")

	idle := make(chan bool, 1)
	go func() { idle <- fw.flush(context.Background()) }()
	got, err := newFrameReader(r, MaxFrameSize).read()
	require.NoError(t, err, "the frame arrived whole")
	assert.Equal(t, big, got.params["b"])
	assert.True(t, <-idle)
}
