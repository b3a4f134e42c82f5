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
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// floatBits stands in for a float64 in a canonical frame, so that equality
// compares bit patterns: a NaN equals itself (payload included) and -0 is
// not +0. Being its own type, it cannot be confused with a uint64 parameter.
type floatBits uint64

// canonicalFrame returns f in a form where reflect.DeepEqual (and so testify's
// Equal) is exactly the equality the codec promises on a round trip:
//   - floats are compared by bits (NaN != NaN otherwise);
//   - nil and empty params are the same (the wire has only a count);
//   - nil and empty slices are the same (the wire has only a length), but
//     the element type still has to match.
func canonicalFrame(f frame) frame {
	c := f
	c.params = nil
	if len(f.params) > 0 {
		c.params = make(Params, len(f.params))
		for k, v := range f.params {
			c.params[k] = canonicalParam(v)
		}
	}
	return c
}

func canonicalParam(v any) any {
	switch x := v.(type) {
	case float64:
		return floatBits(math.Float64bits(x))
	case []float64:
		if len(x) == 0 {
			return []floatBits(nil)
		}
		bits := make([]floatBits, len(x))
		for i, f := range x {
			bits[i] = floatBits(math.Float64bits(f))
		}
		return bits
	case []byte:
		if len(x) == 0 {
			return []byte(nil)
		}
	case []int:
		if len(x) == 0 {
			return []int(nil)
		}
	case []string:
		if len(x) == 0 {
			return []string(nil)
		}
	}
	return v
}

// requireFrameEqual fails unless got is want after a trip over the wire.
func requireFrameEqual(t testing.TB, want, got frame) {
	t.Helper()
	require.Equal(t, canonicalFrame(want), canonicalFrame(got))
}

// mustEncode is appendFrame that must succeed.
func mustEncode(t testing.TB, f frame) []byte {
	t.Helper()
	b, err := appendFrame(nil, &f)
	require.NoError(t, err)
	return b
}

// wireFrame prefixes body with its little-endian length, for hand-made frames.
func wireFrame(body ...byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// wireHeader is a length prefix alone.
func wireHeader(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }

// wireCat concatenates byte slices; hand-made bodies read better as parts.
func wireCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// wireUv is the uvarint encoding of x.
func wireUv(x uint64) []byte { return binary.AppendUvarint(nil, x) }

// wireStr is the wire encoding of a string: uvarint length and the bytes.
func wireStr(s string) []byte { return append(wireUv(uint64(len(s))), s...) }

// wireSendHead is the fixed part of a kindSend body for command "c" with n
// parameters to follow.
func wireSendHead(n uint64) []byte {
	return wireCat([]byte{byte(kindSend), 0}, wireUv(0), wireStr("c"), wireStr(""), wireUv(n))
}

// frameOfSize returns a kindSend frame whose body is exactly n bytes, padded
// with a []byte parameter (n must leave room for the fixed part).
func frameOfSize(t testing.TB, n int) frame {
	t.Helper()
	f := frame{kind: kindSend, command: "blob", params: Params{"b": []byte{}}}
	fixed := len(mustEncode(t, f)) - 4 - 1 // body without the 1-byte uvarint of length 0
	for k := 1; k <= binary.MaxVarintLen64; k++ {
		l := n - fixed - k
		if l >= 0 && len(wireUv(uint64(l))) == k {
			f.params["b"] = bytes.Repeat([]byte{0xa5}, l)
			require.Len(t, mustEncode(t, f), n+4)
			return f
		}
	}
	t.Fatalf("no []byte length gives a %d-byte body", n)
	return frame{}
}

// codecFrames are valid frames covering every kind, every parameter type and
// the edge values of each; the round-trip tests and the fuzz seeds share them.
func codecFrames() []struct {
	name string
	f    frame
} {
	manyParams := Params{}
	for i := range 200 { // a two-byte uvarint count
		manyParams[fmt.Sprintf("p%03d", i)] = i
	}
	return []struct {
		name string
		f    frame
	}{
		{"send/no params", frame{kind: kindSend, command: "ping"}},
		{"send/ping", frame{kind: kindSend, command: "ping", params: Params{"param": "gotcha!", "n": 42}}},
		{"send/empty params map", frame{kind: kindSend, command: "ping", params: Params{}}},
		{"send/empty command", frame{kind: kindSend}},
		{"call/id 1", frame{kind: kindCall, id: 1, command: "count"}},
		{"call/max id", frame{kind: kindCall, id: math.MaxUint64, command: "count"}},
		{"init", frame{kind: kindInit, params: Params{"name": "proc", "workers": 4}}},
		{"message", frame{kind: kindMessage, command: "pong", params: Params{"param": "gotcha!"}}},
		{"reply", frame{kind: kindReply, id: 1 << 63, command: "pid", params: Params{"pid": 1234}}},
		{"error/handler", frame{kind: kindError, code: CodeHandler, command: "fail", errText: "asked to fail"}},
		{"error/panic", frame{kind: kindError, code: CodePanic, command: "panic", errText: "assignment to entry in nil map\ngoroutine 1 [running]:"}},
		{"reply/unknown command", frame{kind: kindReply, id: 7, code: CodeUnknownCommand, command: "nope"}},
		{"fatal/bad frame", frame{kind: kindFatal, code: CodeBadFrame, errText: "mp: malformed frame: unknown value tag 99"}},
		{"fatal/code 255", frame{kind: kindFatal, code: 255, errText: "ünïcödé"}},
		{"nil", frame{kind: kindSend, command: "v", params: Params{"x": nil}}},
		{"bool", frame{kind: kindSend, command: "v", params: Params{"t": true, "f": false}}},
		{"int", frame{kind: kindSend, command: "v", params: Params{
			"zero": 0, "one": 1, "neg": -1, "min": math.MinInt, "max": math.MaxInt,
		}}},
		{"int64", frame{kind: kindSend, command: "v", params: Params{
			"zero": int64(0), "neg": int64(-300), "min": int64(math.MinInt64), "max": int64(math.MaxInt64),
		}}},
		{"uint64", frame{kind: kindSend, command: "v", params: Params{
			"zero": uint64(0), "big": uint64(1) << 63, "max": uint64(math.MaxUint64),
		}}},
		{"float64", frame{kind: kindSend, command: "v", params: Params{
			"zero": 0.0, "negzero": math.Copysign(0, -1), "pi": math.Pi,
			"max": math.MaxFloat64, "tiny": math.SmallestNonzeroFloat64,
			"inf": math.Inf(1), "-inf": math.Inf(-1),
			"nan": math.NaN(), "nan payload": math.Float64frombits(0xfff8_dead_beef_0001),
		}}},
		{"string", frame{kind: kindSend, command: "v", params: Params{
			"empty": "", "ascii": "gotcha!", "utf8": "ünïcödé ✓",
			"not utf8": "\x00\xff\xfe", "long": strings.Repeat("x", 300), // two-byte length
		}}},
		{"bytes", frame{kind: kindSend, command: "v", params: Params{
			"nil": []byte(nil), "empty": []byte{}, "some": []byte{0, 1, 0x7f, 0x80, 0xff},
		}}},
		{"[]int", frame{kind: kindSend, command: "v", params: Params{
			"nil": []int(nil), "empty": []int{}, "some": []int{math.MinInt, -1, 0, 1, math.MaxInt},
		}}},
		{"[]float64", frame{kind: kindSend, command: "v", params: Params{
			"nil": []float64(nil), "empty": []float64{},
			"some": []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 1e-300},
		}}},
		{"[]string", frame{kind: kindSend, command: "v", params: Params{
			"nil": []string(nil), "empty": []string{}, "some": []string{"", "a", strings.Repeat("y", 200)},
		}}},
		{"empty key", frame{kind: kindSend, command: "v", params: Params{"": "no name"}}},
		{"many params", frame{kind: kindSend, command: "v", params: manyParams}},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, tt := range codecFrames() {
		t.Run(tt.name, func(t *testing.T) {
			b := mustEncode(t, tt.f)
			require.Equal(t, uint32(len(b)-4), binary.LittleEndian.Uint32(b), "length prefix")

			fr := newFrameReader(bytes.NewReader(b), MaxFrameSize)
			got, err := fr.read()
			require.NoError(t, err)
			requireFrameEqual(t, tt.f, got)

			_, err = fr.read()
			require.Equal(t, io.EOF, err, "a stream that ends at a frame boundary ends with io.EOF itself")
		})
	}
}

// TestCodecRoundTripKeepsTypes spells out what canonical equality implies,
// for the cases a reader of the round-trip test might doubt.
func TestCodecRoundTripKeepsTypes(t *testing.T) {
	nan := math.Float64frombits(0x7ff8_0000_0000_0bad)
	in := frame{kind: kindSend, command: "v", params: Params{
		"int": 1, "int64": int64(1), "uint64": uint64(1), "nan": nan, "negzero": math.Copysign(0, -1),
	}}
	got, err := newFrameReader(bytes.NewReader(mustEncode(t, in)), MaxFrameSize).read()
	require.NoError(t, err)
	assert.IsType(t, 1, got.params["int"])
	assert.IsType(t, int64(1), got.params["int64"])
	assert.IsType(t, uint64(1), got.params["uint64"])
	assert.Equal(t, math.Float64bits(nan), math.Float64bits(got.params["nan"].(float64)), "NaN payload")
	assert.True(t, math.Signbit(got.params["negzero"].(float64)), "sign of -0")
}

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

func TestFrameReaderZeroLength(t *testing.T) {
	f, err := newFrameReader(bytes.NewReader(wireHeader(0)), MaxFrameSize).read()
	require.ErrorIs(t, err, ErrBadFrame)
	assert.ErrorContains(t, err, "empty frame")
	assert.Zero(t, f)
}

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

func TestAppendFrameUnsupportedType(t *testing.T) {
	type point struct{ X, Y int }
	x := 1
	tests := []struct {
		value any
		typ   string // as the error names it
	}{
		{point{1, 2}, "mp.point"},
		{map[string]any{"a": 1}, "map[string]interface {}"},
		{int32(1), "int32"},
		{float32(1), "float32"},
		{uint(1), "uint"},
		{uint32(1), "uint32"},
		{&x, "*int"},
		{[]any{1}, "[]interface {}"},
		{[]int64{1}, "[]int64"},
		{[2]int{}, "[2]int"},
		{Params{}, "mp.Params"},
		{errors.New("e"), "*errors.errorString"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			// Good parameters around the bad one get encoded first (in map
			// order), so this also checks that partial output is undone.
			f := frame{kind: kindSend, command: "cmd", params: Params{
				"before": "some text", "bad": tt.value, "after": []int{1, 2, 3},
			}}
			prefix := []byte("earlier frame")
			buf := make([]byte, len(prefix), 1024) // room to append in place
			copy(buf, prefix)

			out, err := appendFrame(buf, &f)
			require.ErrorIs(t, err, ErrParam)
			assert.ErrorContains(t, err, `"bad"`)
			assert.ErrorContains(t, err, "type "+tt.typ+" cannot be sent")
			assert.Equal(t, prefix, out, "buffer changed")
			assert.Equal(t, prefix, buf[:len(prefix)], "bytes before the frame changed")
		})
	}
}

func TestAppendFrameTooLarge(t *testing.T) {
	t.Run("limit accepted", func(t *testing.T) {
		f := frameOfSize(t, MaxFrameSize)
		b := mustEncode(t, f)
		require.Equal(t, uint32(MaxFrameSize), binary.LittleEndian.Uint32(b))
		got, err := newFrameReader(bytes.NewReader(b), MaxFrameSize).read()
		require.NoError(t, err)
		requireFrameEqual(t, f, got)
	})

	oneMore := func() frame {
		f := frameOfSize(t, MaxFrameSize)
		f.params["b"] = append(f.params["b"].([]byte), 0)
		return f
	}
	tests := map[string]func() frame{
		"limit plus one": oneMore,
		"[]byte": func() frame {
			return frame{kind: kindSend, command: "big", params: Params{"blob": make([]byte, MaxFrameSize)}}
		},
		"string": func() frame {
			return frame{kind: kindSend, command: "big", params: Params{"blob": strings.Repeat("x", MaxFrameSize)}}
		},
		"[]float64": func() frame {
			return frame{kind: kindSend, command: "big", params: Params{"blob": make([]float64, MaxFrameSize/8)}}
		},
	}
	for name, mk := range tests {
		t.Run(name, func(t *testing.T) {
			f := mk()
			prefix := []byte("earlier frame")
			out, err := appendFrame(append([]byte{}, prefix...), &f)
			require.ErrorIs(t, err, ErrFrameTooLarge)
			assert.NotErrorIs(t, err, ErrParam)
			assert.ErrorContains(t, err, fmt.Sprintf("the limit is %d", MaxFrameSize))
			assert.Equal(t, prefix, out, "buffer changed")
		})
	}
}

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

// fuzzLimit is the frame limit under fuzzing: small, so that the fuzzer can
// reach it and the buffer-capacity promise is tested near its edge.
const fuzzLimit = 1 << 16

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
