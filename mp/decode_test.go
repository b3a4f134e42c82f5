package mp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of decoding what is not a frame (codec.go): malformed bodies, fuzzed
// input, and what junk makes the decoder allocate.

// TestDecodeMalformed feeds frame bodies that break the format one way
// each (an unknown kind or value tag, a bad or overflowing varint, a count
// that does not fit the frame, trailing bytes, a duplicate key). decodeBody
// fails with ErrBadFrame (not ErrFrameTooLarge), a zero frame and a text
// that says what is wrong, and the frame reader fails the same way on the
// framed body.
func TestDecodeMalformed(t *testing.T) {
	nilParam := wireCat(wireStr("a"), []byte{tagNil})
	tests := []struct {
		name string
		body []byte
		want string // in the error text
	}{
		{"kind 0", wireCat([]byte{0, 0}, wireUv(0), wireStr("c"), wireStr(""), wireUv(0)), "unknown frame kind 0"},
		{"kind max", wireCat([]byte{byte(kindMax), 0}, wireUv(0), wireStr("c"), wireStr(""), wireUv(0)), fmt.Sprintf("unknown frame kind %d", kindMax)},
		{"kind 255", wireCat([]byte{255, 0}, wireUv(0), wireStr("c"), wireStr(""), wireUv(0)), "unknown frame kind 255"},
		{"kind only", []byte{byte(kindSend)}, "truncated"},
		{"id unterminated", []byte{byte(kindCall), 0, 0x80}, "bad unsigned varint"},
		{"id overflows", wireCat([]byte{byte(kindCall), 0}, bytes.Repeat([]byte{0xff}, 10), []byte{1}), "bad unsigned varint"},
		{"command longer than frame", wireCat([]byte{byte(kindSend), 0}, wireUv(0), wireUv(5), []byte("ab")), "count 5 does not fit"},
		{"error text longer than frame", wireCat([]byte{byte(kindError), 1}, wireUv(0), wireStr("c"), wireUv(1000)), "count 1000 does not fit"},
		{"no param count", wireCat([]byte{byte(kindSend), 0}, wireUv(0), wireStr("c"), wireStr("")), "bad unsigned varint"},
		{"param count too large", wireCat(wireSendHead(3), nilParam), "count 3 does not fit"},
		{"param count huge", wireCat(wireSendHead(math.MaxUint64), nilParam), "does not fit"},
		{"value missing", wireCat(wireSendHead(1), wireStr("ab")), "truncated"},
		{"unknown tag", wireCat(wireSendHead(1), wireStr("a"), []byte{99}), "unknown value tag 99"},
		{"tag after last", wireCat(wireSendHead(1), wireStr("a"), []byte{tagStrings + 1}), fmt.Sprintf("unknown value tag %d", tagStrings+1)},
		{"trailing bytes", wireCat(wireSendHead(0), []byte{0xaa, 0xbb}), "2 bytes after the end of the frame"},
		{"trailing after params", wireCat(wireSendHead(1), nilParam, []byte{0}), "1 bytes after the end of the frame"},
		{"duplicate key", wireCat(wireSendHead(2), nilParam, nilParam), `duplicate parameter "a"`},
		{"int unterminated", wireCat(wireSendHead(1), wireStr("a"), []byte{tagInt, 0x80}), "bad varint"},
		{"int64 overflows", wireCat(wireSendHead(1), wireStr("a"), []byte{tagInt64}, bytes.Repeat([]byte{0xff}, 10), []byte{1}), "bad varint"},
		{"uint64 unterminated", wireCat(wireSendHead(1), wireStr("a"), []byte{tagUint64, 0xff}), "bad unsigned varint"},
		{"float64 short", wireCat(wireSendHead(1), wireStr("a"), []byte{tagFloat64, 1, 2, 3, 4, 5, 6, 7}), "truncated in a float"},
		{"string longer than frame", wireCat(wireSendHead(1), wireStr("a"), []byte{tagString}, wireUv(4), []byte("abc")), "count 4 does not fit"},
		{"bytes longer than frame", wireCat(wireSendHead(1), wireStr("a"), []byte{tagBytes}, wireUv(1<<40), []byte("abc")), "does not fit"},
		{"ints count too large", wireCat(wireSendHead(1), wireStr("a"), []byte{tagInts}, wireUv(3), []byte{2, 4}), "count 3 does not fit"},
		{"ints element unterminated", wireCat(wireSendHead(1), wireStr("a"), []byte{tagInts}, wireUv(2), []byte{2, 0x80}), "bad varint"},
		{"floats count too large", wireCat(wireSendHead(1), wireStr("a"), []byte{tagFloats}, wireUv(2), make([]byte, 15)), "count 2 does not fit"},
		{"strings count too large", wireCat(wireSendHead(1), wireStr("a"), []byte{tagStrings}, wireUv(3), []byte{0, 0}), "count 3 does not fit"},
		{"strings element too long", wireCat(wireSendHead(1), wireStr("a"), []byte{tagStrings}, wireUv(1), wireUv(9), []byte("x")), "count 9 does not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := decodeBody(tt.body)
			require.ErrorIs(t, err, ErrBadFrame)
			assert.NotErrorIs(t, err, ErrFrameTooLarge)
			assert.ErrorContains(t, err, tt.want)
			assert.Zero(t, f, "a frame with an error")

			// The same through the reader, as the pipe delivers it.
			_, err = newFrameReader(bytes.NewReader(wireFrame(tt.body...)), MaxFrameSize).read()
			require.ErrorIs(t, err, ErrBadFrame)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// fuzzLimit is the frame limit under fuzzing: small, so that the fuzzer can
// reach it and the buffer-capacity promise is tested near its edge.
const fuzzLimit = 1 << 16

// FuzzDecode feeds arbitrary bytes to the frame reader. The promises it
// checks: the reader never panics; every error wraps ErrBadFrame or
// ErrFrameTooLarge, or is io.EOF itself; the reader's buffer never grows
// beyond the frame limit; and every frame it accepts survives a re-encode
// and decode unchanged (equality as in canonicalFrame).
func FuzzDecode(f *testing.F) {
	// Small seeds only: the fuzzer minimizes every new interesting input
	// (reporting 0 execs/sec meanwhile), and that takes long on inputs
	// derived from kilobyte-sized seeds.
	var few []byte
	for _, tt := range codecFrames() {
		b := mustEncode(f, tt.f)
		if len(b) > 512 {
			continue
		}
		f.Add(b)
		if len(few) < 256 {
			few = append(few, b...)
		}
	}
	f.Add(few) // several frames on one stream
	valid := mustEncode(f, codecFrames()[1].f)
	f.Add(valid[:len(valid)-3])                                             // truncated body
	f.Add(valid[:2])                                                        // truncated header
	f.Add([]byte{})                                                         // clean EOF
	f.Add(wireHeader(0))                                                    // empty frame
	f.Add(wireHeader(math.MaxUint32))                                       // oversize
	f.Add(append(wireHeader(fuzzLimit+1), valid[4:]...))                    // just over the limit
	f.Add(wireFrame(wireCat(wireSendHead(1), wireStr("a"), []byte{99})...)) // unknown tag
	f.Add(wireFrame(wireCat(wireSendHead(2), wireStr("a"), []byte{tagNil}, wireStr("a"), []byte{tagNil})...))
	f.Add([]byte("this is not a frame at all, only text"))

	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFrameReader(bytes.NewReader(data), fuzzLimit)
		for {
			got, err := fr.read()
			if c := cap(fr.buf); c > fuzzLimit {
				t.Fatalf("reader buffer has capacity %d, beyond the %d-byte limit", c, fuzzLimit)
			}
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("error %v (%T) wraps neither ErrBadFrame nor ErrFrameTooLarge", err, err)
				}
				return
			}
			if got.kind == 0 || got.kind >= kindMax {
				t.Fatalf("accepted frame of unknown kind %d", got.kind)
			}
			enc, err := appendFrame(nil, &got)
			if err != nil {
				t.Fatalf("decoded frame %#v does not encode: %v", got, err)
			}
			// Re-encoding is minimal (varints), so it can only be shorter:
			// the same limit must accept it. decodeBody rather than a second
			// frameReader: each reader costs a 64 KiB bufio buffer, which
			// would halve the fuzzer's speed.
			if n := binary.LittleEndian.Uint32(enc); int(n) != len(enc)-4 || n > fuzzLimit {
				t.Fatalf("re-encoded frame has length prefix %d for %d bytes (limit %d)", n, len(enc)-4, fuzzLimit)
			}
			again, err := decodeBody(enc[4:])
			if err != nil {
				t.Fatalf("re-encoded frame %#v does not decode: %v", got, err)
			}
			if !reflect.DeepEqual(canonicalFrame(got), canonicalFrame(again)) {
				t.Fatalf("round trip changed the frame:\n got %#v\nthen %#v", got, again)
			}
		}
	})
}

// TestDecodeAllocationProportionalToFrame: a junk frame that claims a huge
// parameter count must not make the reader allocate for the count it
// claims, only for what it really holds.
func TestDecodeAllocationProportionalToFrame(t *testing.T) {
	head := wireSendHead(MaxFrameSize/2 - 20)
	input := wireFrame(append(head, make([]byte, MaxFrameSize-len(head))...)...)
	fr := newFrameReader(bytes.NewReader(input), MaxFrameSize)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := fr.read()
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrBadFrame)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(2*MaxFrameSize))
}
