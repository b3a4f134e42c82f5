package cluster

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/nats-io/nats.go"
)

// Requests and replies travel as CBOR, the encoding of mp's typed commands,
// with the same limits. Both sides decide the same way about a field the
// receiver does not know: it is an error. A submitter of a newer build that
// sets a field an older worker lacks must not have that field silently
// dropped, which would run other work than was asked for.
var (
	decMode cbor.DecMode
	encMode cbor.EncMode
)

// maxValueSize bounds what a decoded value may claim; the transport's own
// maximum payload bounds the input.
const maxValueSize = 64 << 20

func init() {
	var err error
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   32,
		MaxArrayElements:  maxValueSize,
		MaxMapPairs:       maxValueSize / 2,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	encMode, err = cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	if err != nil {
		panic(err)
	}
}

func encode(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", v, err)
	}
	return b, nil
}

func decode(data []byte, v any) error {
	err := decMode.Unmarshal(data, v)
	var unknown *cbor.UnknownFieldError
	if errors.As(err, &unknown) {
		if name, ok := mapKey(data, unknown.Index); ok {
			return fmt.Errorf("decoding %T: unknown field %q (a sender of another build?): %w", v, name, err)
		}
	}
	if err != nil {
		return fmt.Errorf("decoding %T: %w", v, err)
	}
	return nil
}

// mapKey returns the key of the i-th element of the CBOR map data, if it
// is a string: the name of a field the decoder did not know.
func mapKey(data []byte, i int) (string, bool) {
	var m map[string]cbor.RawMessage
	if decMode.Unmarshal(data, &m) != nil || len(data) == 0 {
		return "", false
	}
	// Skip the map's head, then i key-value pairs.
	rest := data[1:]
	switch n := data[0] & 0x1f; {
	case n == 24:
		rest = data[2:]
	case n == 25:
		rest = data[3:]
	case n == 26:
		rest = data[5:]
	case n == 27:
		rest = data[9:]
	}
	for j := 0; ; j++ {
		var key string
		var err error
		if rest, err = decMode.UnmarshalFirst(rest, &key); err != nil {
			return "", false
		}
		if j == i {
			return key, true
		}
		var skip cbor.RawMessage
		if rest, err = decMode.UnmarshalFirst(rest, &skip); err != nil {
			return "", false
		}
	}
}

// headerSize is the size of h on the wire: "NATS/1.0\r\n", a line per
// value, and an empty line.
func headerSize(h nats.Header) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n
}
