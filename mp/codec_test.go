package mp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

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

// TestCodecRoundTrip encodes every frame of codecFrames (each frame kind,
// each parameter type, edge values) and reads it back: the length prefix
// counts the bytes after it, the frame read equals the one written (by
// canonicalFrame's equality), and the stream then ends with io.EOF itself.
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

// TestAppendFrameUnsupportedType checks that a parameter of a type the
// codec cannot send (a struct, a map, int32, a pointer, []int64, …) fails
// appendFrame with ErrParam naming the parameter and its type, and that the
// buffer is left as it was, even when good parameters were encoded before
// the bad one (map order decides).
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

// TestAppendFrameTooLarge checks the frame limit on the writing side: a
// frame of exactly MaxFrameSize bytes encodes and reads back; one a byte
// larger, or one with a []byte, string or []float64 parameter of the limit's
// size, fails with ErrFrameTooLarge (not ErrParam) naming the limit and
// leaves the buffer as it was.
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
