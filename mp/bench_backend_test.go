package mp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkBackendCall is the backend's share of a Call, in one goroutine:
// decode the call's frame, dispatch it to a handler that replies with the
// parameters it got (BenchmarkCall's "echo"), write the reply, and read and
// decode it back, as the frontend would. Two system calls per op: the
// reply's write and its read.
func BenchmarkBackendCall(b *testing.B) { backendCall(b, Params{"x": 1}) }

// BenchmarkBackendCallTyped is BenchmarkBackendCall with a typed
// command's parameters (payload.go): one longer parameter name.
func BenchmarkBackendCallTyped(b *testing.B) {
	params, err := putPayload(struct{ Seed int64 }{1})
	require.NoError(b, err)
	backendCall(b, params)
}

func backendCall(b *testing.B, params Params) {
	be, rd, _ := inProcessBackend(b)
	hs := handlers{"echo": func(ctx context.Context, m Message) error {
		return be.Reply(ctx, m, "echo", m.Params)
	}}
	body, err := appendFrame(nil, &frame{kind: kindCall, command: "echo", params: params})
	require.NoError(b, err)
	body = body[4:]
	var last string
	id := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		fr, err := decodeBodyWith(body, &last)
		if err != nil {
			b.Fatal(err)
		}
		id++
		fr.id = id
		if _, panicked := be.dispatch(fr, hs, []string{"echo"}); panicked {
			b.Fatal("panicked")
		}
		reply, err := rd.read()
		if err != nil || reply.kind != kindReply || reply.id != id {
			b.Fatalf("got %+v, %v", reply, err)
		}
	}
}

// BenchmarkBackendSend is BenchmarkBackendCall for BenchmarkRoundTrip's
// path: a Send whose handler sends its parameters back as a message
// (Backend.Send: a credit, then the frame writer, with gathering). The
// credits are refilled directly, as the frontend would give them back.
func BenchmarkBackendSend(b *testing.B) {
	be, rd, _ := inProcessBackend(b)
	hs := handlers{"echo": func(ctx context.Context, m Message) error {
		return be.Send(ctx, "echo", m.Params)
	}}
	body, err := appendFrame(nil, &frame{kind: kindSend, command: "echo", params: Params{"x": 1}})
	require.NoError(b, err)
	body = body[4:]
	var last string
	b.ReportAllocs()
	for b.Loop() {
		fr, err := decodeBodyWith(body, &last)
		if err != nil {
			b.Fatal(err)
		}
		be.conn.credits.n = 1024
		if _, panicked := be.dispatch(fr, hs, []string{"echo"}); panicked {
			b.Fatal("panicked")
		}
		msg, err := rd.read()
		if err != nil || msg.kind != kindMessage {
			b.Fatalf("got %+v, %v", msg, err)
		}
	}
}
