package mp

import (
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// brk10Chunks hands its chunks over one per Read: each frame of the test
// is then whole in the frame reader's bufio buffer (decoded in place), and
// the next Read writes the next frame over it, from the buffer's start.
type brk10Chunks [][]byte

func (c *brk10Chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	if n < len((*c)[0]) {
		(*c)[0] = (*c)[0][n:]
	} else {
		*c = (*c)[1:]
	}
	return n, nil
}

// Fault: a frame decoded in place in the bufio buffer (frameReader.read's
// Peek, decode, Discard) keeps a slice of that buffer: a string, a []byte,
// a []string's strings, the error text, or the command (and the reader's
// cache of the last command, fr.command, which the next frame compares
// with and hands out again). The next frame's bytes overwrite the buffer,
// and the values of every frame read before change under their holders.
// Here every frame is read, and decoded in place, before any is checked;
// frames alternate their commands so that the cache is both hit and
// replaced. Fails with d.string or the command decoded by unsafe.String
// over the buffer (checked).
func TestFramesDecodedInPlaceOutliveTheBuffer(t *testing.T) {
	var want []frame
	for _, tt := range codecFrames() {
		want = append(want, tt.f)
	}
	for i := range 20 {
		cmd := fmt.Sprintf("cmd-%d", i%3) // the cache hit, then replaced
		want = append(want,
			frame{kind: kindMessage, command: cmd, params: Params{
				"s": fmt.Sprintf("string %02d", i), "b": []byte(fmt.Sprintf("bytes %02d", i)),
				"ss": []string{fmt.Sprintf("one %02d", i), fmt.Sprintf("two %02d", i)},
			}},
			frame{kind: kindReply, id: uint64(i + 1), code: CodeHandler, command: cmd, errText: fmt.Sprintf("error text %02d", i)},
		)
	}
	var chunks brk10Chunks
	for _, f := range want {
		chunks = append(chunks, mustEncode(t, f))
	}
	fr := newFrameReader(&chunks, MaxFrameSize)
	var got []frame
	for range want {
		f, err := fr.read()
		require.NoError(t, err)
		got = append(got, f)
	}
	_, err := fr.read()
	require.Equal(t, io.EOF, err)
	require.Len(t, got, len(want))
	for i := range want {
		requireFrameEqual(t, want[i], got[i])
	}
	assert.Equal(t, "cmd-1", fr.command, "the cache holds the last command")
}
