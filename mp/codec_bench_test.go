package mp

import (
	"bytes"
	"encoding/gob"
	"testing"
)

// gobMessage mirrors Message for encoding/gob, which only sees exported
// fields. Params stays a map of interfaces, as in Message: the values' types
// travel with them, and gob has the basic types registered already.
type gobMessage struct {
	Command string
	Params  map[string]any
}

// BenchmarkCodec compares the frame codec with encoding/gob on the message
// of the ping example, both through an in-memory stream as on a pipe:
//
//   - encode+decode: one message on a long-lived stream (steady state; for
//     gob, the type information went with the first message, before timing);
//   - first-message: a new stream each time, i.e. what the first message of
//     a process costs, type information included for gob. For ours it
//     includes newFrameReader, whose 64 KiB read buffer is most of the cost.
//
// B/msg is what one message puts on the stream, length prefix included.
func BenchmarkCodec(b *testing.B) {
	msg := Message{Command: "ping", Params: Params{"param": "gotcha!", "n": 42}}
	f := frame{kind: kindSend, command: msg.Command, params: msg.Params}
	g := gobMessage{Command: msg.Command, Params: msg.Params}
	b.Run("ours/encode+decode", func(b *testing.B) { codecOursRoundTrip(b, f) })
	b.Run("ours/first-message", func(b *testing.B) { codecOursFirst(b, f) })
	b.Run("gob/encode+decode", func(b *testing.B) { codecGobRoundTrip(b, g) })
	b.Run("gob/first-message", func(b *testing.B) { codecGobFirst(b, g) })
}

// codecOursRoundTrip measures ours/encode+decode: a frame encoded and
// decoded by one stream of ours, again and again.
func codecOursRoundTrip(b *testing.B, f frame) {
	var pipe bytes.Buffer
	fr := newFrameReader(&pipe, MaxFrameSize)
	var buf []byte
	roundTrip := func() frame {
		var err error
		if buf, err = appendFrame(buf[:0], &f); err != nil {
			b.Fatal(err)
		}
		pipe.Write(buf)
		got, err := fr.read()
		if err != nil {
			b.Fatal(err)
		}
		return got
	}
	requireFrameEqual(b, f, roundTrip())
	for b.Loop() {
		roundTrip()
	}
	b.ReportMetric(float64(len(buf)), "B/msg")
}

// codecOursFirst measures ours/first-message: each frame on a new stream
// of ours.
func codecOursFirst(b *testing.B, f frame) {
	var pipe bytes.Buffer
	var n int
	for b.Loop() {
		pipe.Reset()
		buf, err := appendFrame(nil, &f)
		if err != nil {
			b.Fatal(err)
		}
		n = len(buf)
		pipe.Write(buf)
		if _, err := newFrameReader(&pipe, MaxFrameSize).read(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "B/msg")
}

// codecGobRoundTrip measures gob/encode+decode: a message encoded and
// decoded by one gob stream, again and again.
func codecGobRoundTrip(b *testing.B, g gobMessage) {
	var pipe bytes.Buffer
	enc, dec := gob.NewEncoder(&pipe), gob.NewDecoder(&pipe)
	var n int
	roundTrip := func() gobMessage {
		if err := enc.Encode(&g); err != nil {
			b.Fatal(err)
		}
		n = pipe.Len()
		var got gobMessage
		if err := dec.Decode(&got); err != nil {
			b.Fatal(err)
		}
		return got
	}
	roundTrip() // the type information goes with the first message
	got := roundTrip()
	if got.Command != g.Command || got.Params["param"] != "gotcha!" || got.Params["n"] != 42 {
		b.Fatalf("gob round trip gave %#v", got)
	}
	for b.Loop() {
		roundTrip()
	}
	b.ReportMetric(float64(n), "B/msg")
}

// codecGobFirst measures gob/first-message: each message on a new gob
// stream, type information included.
func codecGobFirst(b *testing.B, g gobMessage) {
	var pipe bytes.Buffer
	var n int
	for b.Loop() {
		pipe.Reset()
		if err := gob.NewEncoder(&pipe).Encode(&g); err != nil {
			b.Fatal(err)
		}
		n = pipe.Len()
		var got gobMessage
		if err := gob.NewDecoder(&pipe).Decode(&got); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "B/msg")
}
