package mp

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fuzzValue is a value with every shape a typed command carries: scalars,
// strings, bytes, slices, maps, a nested struct and a pointer.
type fuzzValue struct {
	ID     int64
	Name   string
	Data   []byte
	Values []float64
	Tags   map[string]uint32
	Inner  struct {
		OK    bool
		Words []string
	}
	Next *fuzzValue
}

func samplePayload() fuzzValue {
	v := fuzzValue{ID: 7, Name: "worker-3", Data: []byte{1, 2, 3}, Values: []float64{0.5, 1.5}, Tags: map[string]uint32{"a": 1}}
	v.Inner.OK = true
	v.Inner.Words = []string{"ready"}
	v.Next = &fuzzValue{ID: 8}
	return v
}

// TestPayloadRoundTrip checks that a value with every shape a typed command
// carries (scalars, bytes, slices, a map, a nested struct, a pointer) comes
// back equal through putPayload and takePayload.
func TestPayloadRoundTrip(t *testing.T) {
	v := samplePayload()
	p, err := putPayload(v)
	require.NoError(t, err)
	var got fuzzValue
	require.NoError(t, takePayload(p, &got))
	assert.Equal(t, v, got)
}

// TestPayloadRejects checks that malformed payload bytes (empty, truncated,
// trailing bytes, a huge array length, an indefinite length, a duplicate key,
// a tag, a value of the wrong type) fail to decode with ErrParam, as do
// Params with no payload and a value that cannot be encoded (a channel).
func TestPayloadRejects(t *testing.T) {
	var v fuzzValue
	for name, data := range map[string][]byte{
		"empty":            {},
		"truncated":        {0xa1, 0x62, 'I'},
		"trailing bytes":   {0xa0, 0x00},
		"huge array claim": {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"indefinite":       {0x9f, 0x01, 0xff},
		"duplicate key":    {0xa2, 0x62, 'I', 'D', 0x01, 0x62, 'I', 'D', 0x02},
		"tag":              {0xc1, 0x01},
		"wrong type":       {0x63, 'a', 'b', 'c'},
	} {
		assert.ErrorIs(t, decodePayload(data, &v), ErrParam, name)
	}
	assert.ErrorIs(t, takePayload(Params{"x": 1}, &v), ErrParam)
	_, err := putPayload(make(chan int))
	assert.ErrorIs(t, err, ErrParam)
}

// FuzzPayloadDecode keeps the decoder's promise: any bytes give an error or
// a valid value (which encodes and decodes to itself), and what they make
// the decoder allocate is bounded by their length.
func FuzzPayloadDecode(f *testing.F) {
	good, err := encodePayload(samplePayload())
	require.NoError(f, err)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte{0xa0})
	f.Add([]byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})                   // array of 2^64-1
	f.Add([]byte{0xa1, 0x66, 'V', 'a', 'l', 'u', 'e', 's', 0x9a, 0x7f, 0xff, 0xff, 0xff}) // Values: 2^31-1 claimed
	f.Add([]byte{0xa1, 0x64, 'N', 'e', 'x', 't', 0xa1, 0x64, 'N', 'e', 'x', 't', 0xa0})
	f.Add([]byte{0x5f, 0x41, 0x00, 0xff}) // indefinite byte string
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var v fuzzValue
		err := decodePayload(data, &v)
		runtime.ReadMemStats(&after)
		// Go values are larger than their encoding (a 1-byte CBOR null
		// becomes a whole struct); 1 KiB per input byte plus a constant
		// for the decoder's own set-up is far below what a claimed
		// length could make it allocate.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1024*uint64(len(data))+64<<10 {
			t.Fatalf("%d input bytes made the decoder allocate %d bytes", len(data), alloc)
		}
		if err != nil {
			return
		}
		again, err := encodePayload(v)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		var w fuzzValue
		if err := decodePayload(again, &w); err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		if !bytes.Equal(mustEncodePayload(t, w), again) {
			t.Fatalf("value changed on a second round trip")
		}
	})
}

func mustEncodePayload(t *testing.T, v any) []byte {
	b, err := encodePayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
