package mp

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/mplog"
)

// benchBackend is a Backend in this process whose message pipe is an
// os.Pipe: its loop's work on a call (dispatch, the handler, Reply, the
// frame writer) can be measured without another process, context switches
// or waits. rd reads what it writes.
func benchBackend(tb testing.TB) (*Backend, *frameReader) {
	outR, outW, err := os.Pipe()
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	be := &Backend{
		kind: "Bench", name: "bench", ctx: ctx,
		log:       mplog.New("Bench.bench", mplog.Back),
		conn:      newBackConn(nil, outW, nil, nil, 1024),
		cancelled: map[uint64]struct{}{},
	}
	be.conn.serve()
	tb.Cleanup(func() {
		cancel()
		be.conn.out.close()
		outR.Close()
	})
	return be, newFrameReader(outR, MaxFrameSize)
}

// BenchmarkBackendCall is the backend's share of a Call, in one goroutine:
// decode the call's frame, dispatch it to a handler that replies with the
// parameters it got (BenchmarkCall's "echo"), write the reply, and read and
// decode it back, as the frontend would. Two system calls per op: the
// reply's write and its read.
func BenchmarkBackendCall(b *testing.B) {
	be, rd := benchBackend(b)
	hs := handlers{"echo": func(ctx context.Context, m Message) error {
		return be.Reply(ctx, m, "echo", m.Params)
	}}
	body, err := appendFrame(nil, &frame{kind: kindCall, command: "echo", params: Params{"x": 1}})
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
