package mp

import (
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMessageIsCall checks that a Message is a call exactly when it has a
// call id: not a plain Send's message (id 0), but id 1 and the largest id.
func TestMessageIsCall(t *testing.T) {
	assert.False(t, Message{Command: "ping"}.IsCall(), "plain Send")
	assert.True(t, Message{Command: "ping", id: 1}.IsCall())
	assert.True(t, Message{Command: "ping", id: math.MaxUint64}.IsCall())
}

// messageParams holds one parameter of every type a Message can carry, plus
// a few that only a local (never encoded) Message could hold.
var messageParams = Params{
	"string":  "gotcha!",
	"empty":   "",
	"bool":    true,
	"false":   false,
	"float":   2.5,
	"nan":     math.NaN(),
	"bytes":   []byte{1, 2},
	"ints":    []int{1, -2},
	"noints":  []int(nil),
	"floats":  []float64{1},
	"strings": []string{"a"},
	"nil":     nil,
	"int":     -7,
	"int64":   int64(-8),
	"uint64":  uint64(9),
	"maxint":  uint64(math.MaxInt),
	"bigu":    uint64(math.MaxInt) + 1,
	"maxu":    uint64(math.MaxUint64),
	"int32":   int32(3),
}

// TestMessageGetters checks each typed getter of Params against every type a
// Message can hold: the getter's own type gives the value (Int also takes an
// int64 or uint64 that fits an int); any other type, a missing key or an
// integer out of range gives ErrParam naming the key and the problem, with
// the zero value.
func TestMessageGetters(t *testing.T) {
	m := Message{Command: "cmd", Params: messageParams}
	// Each getter behind one signature, so that one table covers them all.
	getters := map[string]func(Message, string) (any, error){
		"String": func(m Message, k string) (any, error) { return m.Params.String(k) },
		"Bool":   func(m Message, k string) (any, error) { return m.Params.Bool(k) },
		"Float":  func(m Message, k string) (any, error) { return m.Params.Float(k) },
		"Bytes":  func(m Message, k string) (any, error) { return m.Params.Bytes(k) },
		"Ints":   func(m Message, k string) (any, error) { return m.Params.Ints(k) },
		"Int":    func(m Message, k string) (any, error) { return m.Params.Int(k) },
	}
	tests := []struct {
		getter string
		key    string
		want   any    // the value, or the zero value returned with an error
		errHas string // in the error text, besides the key; "" for success
	}{
		{"String", "string", "gotcha!", ""},
		{"String", "empty", "", ""},
		{"String", "bytes", "", "[]uint8, want string"}, // no conversion
		{"String", "int", "", "int, want string"},
		{"String", "nil", "", "<nil>, want string"},
		{"String", "missing", "", "missing"},

		{"Bool", "bool", true, ""},
		{"Bool", "false", false, ""},
		{"Bool", "int", false, "int, want bool"},
		{"Bool", "missing", false, "missing"},

		{"Float", "float", 2.5, ""},
		{"Float", "int", 0.0, "int, want float64"}, // ints are not floats
		{"Float", "missing", 0.0, "missing"},

		{"Bytes", "bytes", []byte{1, 2}, ""},
		{"Bytes", "string", []byte(nil), "string, want []uint8"},
		{"Bytes", "missing", []byte(nil), "missing"},

		{"Ints", "ints", []int{1, -2}, ""},
		{"Ints", "noints", []int(nil), ""},
		{"Ints", "floats", []int(nil), "[]float64, want []int"},
		{"Ints", "missing", []int(nil), "missing"},

		{"Int", "int", -7, ""},
		{"Int", "int64", -8, ""},
		{"Int", "uint64", 9, ""},
		{"Int", "maxint", math.MaxInt, ""},
		{"Int", "bigu", 0, "does not fit in an int"},
		{"Int", "maxu", 0, "does not fit in an int"},
		{"Int", "int32", 0, "int32, want an integer"}, // not a wire type
		{"Int", "float", 0, "float64, want an integer"},
		{"Int", "string", 0, "string, want an integer"},
		{"Int", "nil", 0, "<nil>, want an integer"},
		{"Int", "missing", 0, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.getter+"/"+tt.key, func(t *testing.T) {
			got, err := getters[tt.getter](m, tt.key)
			if tt.errHas == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.ErrorIs(t, err, ErrParam)
			assert.ErrorContains(t, err, strconv.Quote(tt.key), "error names the key")
			assert.ErrorContains(t, err, tt.errHas)
			assert.Equal(t, tt.want, got, "zero value with an error")
		})
	}
}

// TestMessageGettersNilParams checks that String and Int on a Message with
// nil Params report the key as missing, with ErrParam.
func TestMessageGettersNilParams(t *testing.T) {
	m := Message{Command: "cmd"}
	_, err := m.Params.String("k")
	require.ErrorIs(t, err, ErrParam)
	assert.ErrorContains(t, err, `parameter "k": missing`)
	_, err = m.Params.Int("k")
	require.ErrorIs(t, err, ErrParam)
	assert.ErrorContains(t, err, `parameter "k": missing`)
}

// TestMessageIntInt64 covers int64 values that fit an int only on 64-bit
// platforms, where all of them do.
func TestMessageIntInt64(t *testing.T) {
	m := Message{Command: "cmd", Params: Params{"min": int64(math.MinInt64), "max": int64(math.MaxInt64)}}
	if strconv.IntSize == 32 {
		_, err := m.Params.Int("max")
		require.ErrorIs(t, err, ErrParam)
		assert.ErrorContains(t, err, `"max"`)
		return
	}
	n, err := m.Params.Int("min")
	require.NoError(t, err)
	assert.Equal(t, math.MinInt, n)
	n, err = m.Params.Int("max")
	require.NoError(t, err)
	assert.Equal(t, math.MaxInt, n)
}

// TestMessageGettersAfterRoundTrip checks that every getter finds its value
// after the trip over the wire, i.e. that the decoder yields the types the
// getters expect.
func TestMessageGettersAfterRoundTrip(t *testing.T) {
	in := frame{kind: kindCall, id: 5, command: "cmd", params: Params{
		"s": "x", "b": true, "f": 1.5, "y": []byte("yy"), "is": []int{3}, "i": 1, "i64": int64(2), "u": uint64(3),
	}}
	got, err := decodeBody(mustEncode(t, in)[4:])
	require.NoError(t, err)
	m := Message{Command: got.command, Params: got.params, id: got.id}

	assert.True(t, m.IsCall())
	s, err := m.Params.String("s")
	require.NoError(t, err)
	assert.Equal(t, "x", s)
	b, err := m.Params.Bool("b")
	require.NoError(t, err)
	assert.True(t, b)
	f, err := m.Params.Float("f")
	require.NoError(t, err)
	assert.Equal(t, 1.5, f)
	y, err := m.Params.Bytes("y")
	require.NoError(t, err)
	assert.Equal(t, []byte("yy"), y)
	is, err := m.Params.Ints("is")
	require.NoError(t, err)
	assert.Equal(t, []int{3}, is)
	for key, want := range map[string]int{"i": 1, "i64": 2, "u": 3} {
		n, err := m.Params.Int(key)
		require.NoError(t, err, key)
		assert.Equal(t, want, n, key)
	}
}
