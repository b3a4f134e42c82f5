package mp

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Fault: a frame whose writer's ctx ended half way goes on in the
// background; a backend that exited right then cut it, and the frontend
// lost the message (it saw its pipe end inside a frame). A backend now
// seals its message pipe before it exits. Here a 1 MiB frame goes into a
// pipe (64 KiB) that nobody reads yet, with a ctx that ends once the pipe
// is full: while nobody reads, seal cannot be done (its bound ends it);
// once a reader drains the pipe, seal is done and the frame came whole.
func TestFlushWaitsForTheRestOfAFrame(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	fw := newFrameWriter(w)
	defer fw.close()
	big := bytes.Repeat([]byte{7}, 1<<20)
	// The ctx ends once the pipe is full, half way through the frame
	// (a timeout stood in for that state, and a loaded machine had not
	// filled the pipe in time).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		size, _ := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
		for ctx.Err() == nil {
			if n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ); err == nil && n >= size {
				cancel()
				return
			}
			// A poll, as nothing better exists: nothing signals that a
			// pipe has filled (poll(2) tells whether it can be written
			// to, not how much it holds); bounded by the write's end.
			time.Sleep(time.Millisecond)
		}
	}()
	err = fw.write(ctx, &frame{kind: kindMessage, command: "big", params: Params{"b": big}})
	require.ErrorIs(t, err, errRestFollows, "the pipe cannot take 1 MiB before the ctx ends")

	bounded, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	assert.False(t, fw.seal(bounded), "seal was done while the rest of the frame could not go out")

	idle := make(chan bool, 1)
	go func() { idle <- fw.seal(context.Background()) }()
	got, err := newFrameReader(r, MaxFrameSize).read()
	require.NoError(t, err, "the frame arrived whole")
	assert.Equal(t, big, got.params["b"])
	assert.True(t, <-idle)
}
