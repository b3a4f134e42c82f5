package mp

import (
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// The values of typed commands and reports (Command, Report) are encoded
// with CBOR (RFC 8949, github.com/fxamacker/cbor): structs, slices, maps
// and nested data travel without registration, by field name, and the
// decoder has limits. A field the receiver's type lacks is an error (a
// missing one is its zero value): a sender of another build that sets a
// field the receiver does not know must be told, not have it dropped and
// other work done than it asked for. Over a pipe both sides are one build;
// the rule matters across hosts (package mp/cluster decodes the same way). It was
// chosen over encoding/gob after measuring both on the same values
// (BenchmarkPayload in payload_bench_test.go, figures in docs/benchmarks.md):
// a gob stream carries type descriptions with its first value, which a
// message cut out of a stream pays every time.
//
// Today the encoded value rides in a Params entry of an ordinary frame, under
// payloadKey. Only putPayload and takePayload know that; when frames get a
// field of their own for it, they are the two functions that change.

// payloadKey is the Params key that holds an encoded value. The ':' keeps
// it apart from the keys of hand-written Params.
const payloadKey = "mp:payload"

// Decoding limits: any bytes give an error or a valid value, and what a
// payload can make the decoder allocate is bounded by its length (every
// element and every map pair costs at least one byte of input, and the input
// is at most MaxFrameSize) and by these counts, never by a length it claims.
var (
	payloadDec cbor.DecMode
	payloadEnc cbor.EncMode
)

func init() {
	var err error
	payloadDec, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF, // one value per key: no ambiguity
		IndefLength:       cbor.IndefLengthForbidden, // every length is known before allocating
		MaxNestedLevels:   32,
		MaxArrayElements:  MaxFrameSize,
		MaxMapPairs:       MaxFrameSize / 2,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	payloadEnc, err = cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	if err != nil {
		panic(err)
	}
}

// encodePayload encodes v.
func encodePayload(v any) ([]byte, error) {
	b, err := payloadEnc.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %v: %w", v, err, ErrParam)
	}
	return b, nil
}

// decodePayload decodes data into the value v points to. The whole of data
// must be one value.
func decodePayload(data []byte, v any) error {
	if err := payloadDec.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decoding %v: %v: %w", reflect.TypeOf(v).Elem(), err, ErrParam)
	}
	return nil
}

// putPayload encodes v into the Params of a message.
func putPayload(v any) (Params, error) {
	b, err := encodePayload(v)
	if err != nil {
		return nil, err
	}
	return Params{payloadKey: b}, nil
}

// takePayload decodes the value carried by the Params of a message into the
// value v points to.
func takePayload(p Params, v any) error {
	b, err := p.Bytes(payloadKey)
	if err != nil {
		return fmt.Errorf("no typed value in the message (sent with Params, not a typed command?): %w", err)
	}
	return decodePayload(b, v)
}
