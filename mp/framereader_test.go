package mp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the frame reader (codec.go): frames back to back, truncated,
// too large, and what it allocates and keeps.

// TestFrameReaderBackToBack reads all of codecFrames written back to back,
// handed over whole, a byte at a time, in halves, and with io.EOF on the
// last data: each frame comes out equal to the one written, then io.EOF,
// and io.EOF again on the drained stream.
func TestFrameReaderBackToBack(t *testing.T) {
	frames := codecFrames()
	var stream []byte
	for _, tt := range frames {
		var err error
		stream, err = appendFrame(stream, &tt.f)
		require.NoError(t, err)
	}
	// The frame boundaries must not depend on how the pipe hands the bytes
	// over, so also feed them a byte at a time and in halves.
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(stream) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"EOF with data": func() io.Reader {
			return iotest.DataErrReader(bytes.NewReader(stream))
		},
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			fr := newFrameReader(r(), MaxFrameSize)
			for _, tt := range frames {
				got, err := fr.read()
				require.NoError(t, err, tt.name)
				requireFrameEqual(t, tt.f, got)
			}
			_, err := fr.read()
			require.Equal(t, io.EOF, err)
			_, err = fr.read()
			require.Equal(t, io.EOF, err, "io.EOF again on a drained stream")
		})
	}
}

// TestFrameReaderEmptyStreamIsEOF checks that a stream that ends before its
// first byte reads as io.EOF itself, not as a malformed frame.
func TestFrameReaderEmptyStreamIsEOF(t *testing.T) {
	_, err := newFrameReader(bytes.NewReader(nil), MaxFrameSize).read()
	require.Equal(t, io.EOF, err)
}

// TestFrameReaderDecodedValuesDoNotAliasBuffer guards against a decoder that
// hands out slices of the reader's buffer, which the next frame overwrites.
func TestFrameReaderDecodedValuesDoNotAliasBuffer(t *testing.T) {
	first := frame{kind: kindSend, command: "aaaa", params: Params{"s": "AAAA", "b": []byte("AAAA")}}
	second := frame{kind: kindSend, command: "bbbb", params: Params{"s": "BBBB", "b": []byte("BBBB")}}
	stream := append(mustEncode(t, first), mustEncode(t, second)...)
	fr := newFrameReader(bytes.NewReader(stream), MaxFrameSize)
	got1, err := fr.read()
	require.NoError(t, err)
	_, err = fr.read() // same size, so it reuses the buffer
	require.NoError(t, err)
	requireFrameEqual(t, first, got1)
}

// TestFrameReaderDropsLargeBuffer checks that one large frame does not pin
// its buffer for the life of the stream.
func TestFrameReaderDropsLargeBuffer(t *testing.T) {
	small := frame{kind: kindSend, command: "small"}
	stream := append(mustEncode(t, frameOfSize(t, 100<<10)), mustEncode(t, small)...)
	fr := newFrameReader(bytes.NewReader(stream), MaxFrameSize)
	_, err := fr.read()
	require.NoError(t, err)
	assert.Zero(t, cap(fr.buf), "buffer of a 100 KiB frame kept")
	got, err := fr.read()
	require.NoError(t, err)
	requireFrameEqual(t, small, got)
}

// TestFrameReaderTruncated checks that a stream cut inside a frame fails
// with ErrBadFrame, not io.EOF: a cut header, a cut body, every cut of a
// valid frame, and a cut frame after a good one. The table's cases also
// check that the error says where the stream ended and that no frame comes
// out.
func TestFrameReaderTruncated(t *testing.T) {
	valid := mustEncode(t, codecFrames()[1].f)
	tests := []struct {
		name  string
		input []byte
		want  string // in the error text
	}{
		{"header 1 byte", valid[:1], "header"},
		{"header 2 bytes", valid[:2], "header"},
		{"header 3 bytes", valid[:3], "header"},
		{"no body", wireHeader(10), "inside a 10-byte frame"},
		{"half a body", append(wireHeader(10), 1, 2, 3, 4, 5), "inside a 10-byte frame"},
		{"body 1 byte short", valid[:len(valid)-1], "stream ended inside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := newFrameReader(bytes.NewReader(tt.input), MaxFrameSize).read()
			require.ErrorIs(t, err, ErrBadFrame)
			assert.ErrorContains(t, err, tt.want)
			assert.Zero(t, f)
		})
	}

	t.Run("every cut of a valid frame", func(t *testing.T) {
		for cut := 1; cut < len(valid); cut++ {
			_, err := newFrameReader(bytes.NewReader(valid[:cut]), MaxFrameSize).read()
			require.ErrorIs(t, err, ErrBadFrame, "cut at %d of %d", cut, len(valid))
		}
	})

	t.Run("after a good frame", func(t *testing.T) {
		fr := newFrameReader(bytes.NewReader(append(valid, valid[:7]...)), MaxFrameSize)
		_, err := fr.read()
		require.NoError(t, err)
		_, err = fr.read()
		require.ErrorIs(t, err, ErrBadFrame)
	})
}

// TestFrameReaderPassesIOErrors checks that a failing pipe is reported as
// itself, not disguised as a malformed frame.
func TestFrameReaderPassesIOErrors(t *testing.T) {
	errPipe := errors.New("pipe failed")
	valid := mustEncode(t, codecFrames()[1].f)
	for name, r := range map[string]io.Reader{
		"before header": iotest.ErrReader(errPipe),
		"inside header": io.MultiReader(bytes.NewReader(valid[:2]), iotest.ErrReader(errPipe)),
		"inside body":   io.MultiReader(bytes.NewReader(valid[:7]), iotest.ErrReader(errPipe)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newFrameReader(r, MaxFrameSize).read()
			require.ErrorIs(t, err, errPipe)
			assert.NotErrorIs(t, err, ErrBadFrame)
		})
	}
}

// readTripwire is a reader that records being read at all.
type readTripwire struct{ read bool }

func (r *readTripwire) Read(p []byte) (int, error) {
	r.read = true
	return 0, io.EOF
}

// TestFrameReaderTooLarge checks the limit on the reading side: a frame of
// exactly the limit is read; a header announcing more fails with
// ErrFrameTooLarge naming the length and the limit, before the reader reads
// past the header or allocates a buffer, and leaves the body in the stream.
func TestFrameReaderTooLarge(t *testing.T) {
	const max = 1024

	t.Run("limit accepted", func(t *testing.T) {
		f := frameOfSize(t, max)
		got, err := newFrameReader(bytes.NewReader(mustEncode(t, f)), max).read()
		require.NoError(t, err)
		requireFrameEqual(t, f, got)
	})

	for _, n := range []uint32{max + 1, MaxFrameSize + 1, math.MaxUint32} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			// The body is there, but the reader must refuse the frame on the
			// header alone: neither read the body nor allocate for it. The
			// readTripwire behind the header would notice any read past it.
			body := &readTripwire{}
			fr := newFrameReader(io.MultiReader(bytes.NewReader(wireHeader(n)), body), max)
			f, err := fr.read()
			require.ErrorIs(t, err, ErrFrameTooLarge)
			assert.NotErrorIs(t, err, ErrBadFrame)
			assert.ErrorContains(t, err, fmt.Sprint(n))
			assert.ErrorContains(t, err, fmt.Sprint(max))
			assert.Zero(t, f)
			assert.False(t, body.read, "reader went past the header")
			assert.Zero(t, cap(fr.buf), "reader allocated a frame buffer")
		})
	}

	t.Run("body left in the stream", func(t *testing.T) {
		input := append(wireHeader(max+1), make([]byte, max+1)...)
		fr := newFrameReader(bytes.NewReader(input), max)
		_, err := fr.read()
		require.ErrorIs(t, err, ErrFrameTooLarge)
		assert.Equal(t, max+1, fr.r.Buffered(), "reader consumed more than the header")
	})
}

// TestFrameReaderAllocationBoundedByLimit measures what a hostile header
// costs the reader. A header beyond the limit costs nothing; a header within
// the limit makes the reader allocate the announced length before it reads
// the body (it reads the body in one io.ReadFull), so four bytes on the pipe
// can cost up to the limit in memory: bounded, but not proportional to the
// bytes actually sent.
func TestFrameReaderAllocationBoundedByLimit(t *testing.T) {
	allocated := func(input []byte, wantErr error) uint64 {
		fr := newFrameReader(bytes.NewReader(input), MaxFrameSize)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := fr.read()
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, wantErr)
		return after.TotalAlloc - before.TotalAlloc
	}

	beyond := allocated(wireHeader(math.MaxUint32), ErrFrameTooLarge)
	t.Logf("header announcing 4 GiB: %d bytes allocated", beyond)
	assert.Less(t, beyond, uint64(64<<10))

	within := allocated(append(wireHeader(MaxFrameSize-1), 1, 2, 3), ErrBadFrame)
	t.Logf("header announcing %d bytes, 3 sent: %d bytes allocated", MaxFrameSize-1, within)
	assert.LessOrEqual(t, within, uint64(MaxFrameSize+64<<10))
}

// TestFrameReaderZeroLength checks that a header announcing zero bytes is a
// malformed frame (ErrBadFrame, "empty frame"), and that no frame comes out.
func TestFrameReaderZeroLength(t *testing.T) {
	f, err := newFrameReader(bytes.NewReader(wireHeader(0)), MaxFrameSize).read()
	require.ErrorIs(t, err, ErrBadFrame)
	assert.ErrorContains(t, err, "empty frame")
	assert.Zero(t, f)
}
