package mp

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"testing"
)

// benchPayload is a typical typed command: a task handed to a worker.
type benchPayload struct {
	Task    int
	Worker  string
	Seed    int64
	Seconds float64
	Shape   []int
	First   []float64
}

// BenchmarkPayload compares the encodings considered for typed commands on
// one value, encode then decode, as a message does (a new stream each time
// for gob, since each message is decoded alone):
//
//   - cbor: the chosen codec, with the decoding limits of payload.go;
//   - gob: encoding/gob, a new Encoder and Decoder per value;
//   - gob-stream: gob on a long-lived stream (type sent once), the best
//     case for gob, which frames cut out of a stream cannot have;
//   - json: encoding/json;
//   - params: the same fields as hand-written Params through the frame
//     codec, the floor a typed command is measured against.
func BenchmarkPayload(b *testing.B) {
	v := benchPayload{Task: 42, Worker: "worker-17", Seed: 1, Seconds: 0.25, Shape: []int{100, 100}, First: []float64{1, 2, 3, 4}}
	b.Run("cbor", func(b *testing.B) { payloadCBOR(b, v) })
	b.Run("gob", func(b *testing.B) { payloadGob(b, v) })
	b.Run("gob-stream", func(b *testing.B) { payloadGobStream(b, v) })
	b.Run("json", func(b *testing.B) { payloadJSON(b, v) })
	b.Run("params", func(b *testing.B) { payloadParams(b, v) })
}

// payloadCBOR measures cbor: the chosen codec.
func payloadCBOR(b *testing.B, v benchPayload) {
	var w benchPayload
	for b.Loop() {
		data, err := encodePayload(v)
		if err != nil {
			b.Fatal(err)
		}
		if err := decodePayload(data, &w); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(data)), "B/msg")
	}
}

// payloadGob measures gob: a new gob Encoder and Decoder per value.
func payloadGob(b *testing.B, v benchPayload) {
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := gob.NewEncoder(&buf).Encode(v); err != nil {
			b.Fatal(err)
		}
		n := buf.Len()
		var w benchPayload
		if err := gob.NewDecoder(&buf).Decode(&w); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n), "B/msg")
	}
}

// payloadGobStream measures gob-stream: gob on one long-lived stream.
func payloadGobStream(b *testing.B, v benchPayload) {
	var buf bytes.Buffer
	enc, dec := gob.NewEncoder(&buf), gob.NewDecoder(&buf)
	var w benchPayload
	for b.Loop() {
		if err := enc.Encode(v); err != nil {
			b.Fatal(err)
		}
		n := buf.Len()
		if err := dec.Decode(&w); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n), "B/msg")
	}
}

// payloadJSON measures json: encoding/json.
func payloadJSON(b *testing.B, v benchPayload) {
	var w benchPayload
	for b.Loop() {
		data, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		if err := json.Unmarshal(data, &w); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(data)), "B/msg")
	}
}

// payloadParams measures params: the same fields as Params through the
// frame codec, read back as a handler does.
func payloadParams(b *testing.B, v benchPayload) {
	f := frame{kind: kindSend, command: "work", params: Params{
		"Task": v.Task, "Worker": v.Worker, "Seed": v.Seed, "Seconds": v.Seconds, "Shape": v.Shape, "First": v.First}}
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = appendFrame(buf[:0], &f); err != nil {
			b.Fatal(err)
		}
		got, err := decodeBody(buf[4:])
		if err != nil {
			b.Fatal(err)
		}
		// What a handler then does to get its fields out.
		m := Message{Params: got.params}
		if _, err := m.Params.Int("Task"); err != nil {
			b.Fatal(err)
		}
		m.Params.String("Worker")
		m.Params.Int("Seed")
		m.Params.Float("Seconds")
		m.Params.Ints("Shape")
		param[[]float64](m.Params, "First")
		b.ReportMetric(float64(len(buf)), "B/msg")
	}
}
