package mp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// The floors of a Call with this API: BenchmarkRawPollReadRoundTrip's
// system calls (the caller waits in ppoll(2) beside a cancel eventfd, the
// echo in a blocking read(2)), carrying real frames of the project's codec
// in place of 8 raw bytes. The caller encodes a call frame into a reused
// buffer and writes it with one write(2), then reads the reply frame and
// decodes it into a frame with its Params map; the echo decodes the call,
// looks its command up in a map of handlers, encodes the reply and writes
// it with one write(2). No goroutines, no locks, no contexts: the least a
// library whose calls carry maps of parameters in framed messages, with a
// wait that a context can end, has to do. A second rung adds the two pieces
// of bookkeeping a library with concurrent, cancellable calls keeps: each
// handler's own context (context.WithCancel of the backend's, registered
// where a cancellation can find it) and the caller's pending-call map with
// a channel per call.
//
//	MP_SPIN=0 go test -run '^$' -bench 'RawPipeRoundTrip$|RawPollReadRoundTrip|RawFramed|^BenchmarkCall$' -benchtime 100000x ./mp

// Raw echo child modes of the framed floors (rawEcho hands them to framedEcho).
const (
	rawFramed      = "framed"       // the least a call's echo does
	rawFramedCtx   = "framed-ctx"   // and a context of its own per call
	rawFramedEvent = "framed-event" // the least a Sync's echo does (bench_floor_event_test.go)
)

// framedEcho is the raw echo child of the framed floors: it answers every
// frame on fd 3 with its reply on fd 4, until fd 3 ends.
func framedEcho(mode string) int {
	e := newFramedEchoer(mode == rawFramedCtx)
	if mode == rawFramedEvent {
		e.handlers["set"] = setEvent(4)
	}
	in := make([]byte, readBufferSize)
	for {
		body, err := readFrame(3, in, nil)
		if err != nil {
			return 0
		}
		out, err := e.answer(body)
		if err != nil {
			return 1
		}
		if out == nil {
			continue // a message, not a call: nothing to answer
		}
		if _, err := unix.Write(4, out); err != nil {
			return 0
		}
	}
}

// framedHandler is a handler of the framed echo: it returns the reply's
// parameters.
type framedHandler func(ctx context.Context, params Params) Params

// framedEchoer answers call frames: decode, look up, run, encode.
type framedEchoer struct {
	handlers map[string]framedHandler
	last     string // the last command decoded, as frameReader keeps it
	out      []byte

	// The context rung: each handler runs with a context of its own,
	// cancelled when it returns, and registered in cancelRun meanwhile so
	// that a cancellation from the caller could find it.
	base      context.Context // nil: handlers get context.Background()
	stop      context.CancelFunc
	mu        sync.Mutex
	cancelRun context.CancelFunc
}

func newFramedEchoer(withCtx bool) *framedEchoer {
	e := &framedEchoer{handlers: map[string]framedHandler{
		"echo": func(_ context.Context, p Params) Params { return p },
	}}
	if withCtx {
		e.base, e.stop = context.WithCancel(context.Background())
	}
	return e
}

// answer decodes the call frame body and returns the encoded reply frame
// (valid until the next answer): the handler's parameters, or
// CodeUnknownCommand if the command has no handler. A message (kindSend)
// runs its handler, if there is one, and gets no answer: nil.
func (e *framedEchoer) answer(body []byte) ([]byte, error) {
	fr, err := decodeBodyWith(body, &e.last)
	if err != nil {
		return nil, err
	}
	if fr.kind == kindSend {
		if h, ok := e.handlers[fr.command]; ok {
			h(context.Background(), fr.params)
		}
		return nil, nil
	}
	reply := frame{kind: kindReply, id: fr.id, command: fr.command}
	h, ok := e.handlers[fr.command]
	switch {
	case !ok:
		reply.code = CodeUnknownCommand
	case e.base == nil:
		reply.params = h(context.Background(), fr.params)
	default:
		reply.params = e.run(h, fr.params)
	}
	e.out, err = appendFrame(e.out[:0], &reply)
	return e.out, err
}

// run runs h with a context of its own, as the backend's dispatch does.
func (e *framedEchoer) run(h framedHandler, params Params) Params {
	ctx, cancel := context.WithCancel(e.base)
	e.mu.Lock()
	e.cancelRun = cancel
	e.mu.Unlock()
	p := h(ctx, params)
	e.mu.Lock()
	e.cancelRun = nil
	e.mu.Unlock()
	cancel()
	return p
}

// readFrame reads one frame from fd into buf and returns its body. wait, if
// not nil, is called before each read (fd is then non-blocking); without
// it, the read blocks. Frames larger than buf, and a second frame behind
// the first, are errors: the floors carry one small frame at a time.
func readFrame(fd int, buf []byte, wait func() error) ([]byte, error) {
	for got := 0; ; {
		if wait != nil {
			if err := wait(); err != nil {
				return nil, err
			}
		}
		n, err := unix.Read(fd, buf[got:])
		if err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, io.EOF
		}
		if got += n; got < 4 {
			continue
		}
		size := 4 + int(binary.LittleEndian.Uint32(buf))
		switch {
		case size > len(buf):
			return nil, fmt.Errorf("a %d-byte frame is beyond the floor's %d-byte buffer", size, len(buf))
		case got > size:
			return nil, errors.New("a second frame behind the reply")
		case got == size:
			return buf[4:size], nil
		}
	}
}

// framedCaller makes calls with framed messages: it numbers and encodes
// each call, hands it to exchange, and decodes the reply.
type framedCaller struct {
	exchange func(out []byte) (body []byte, err error)
	out      []byte
	last     string // the last command decoded, as frameReader keeps it
	id       uint64

	// The pending-call rung: each call gets a channel, registered under
	// its id, that the reply is routed to, as for concurrent calls.
	routed  bool
	nextID  atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]chan frame
}

// newPipeCaller returns a framedCaller that writes each call to w and
// waits for its reply in ppoll(2) on r beside a cancel eventfd, efd.
func newPipeCaller(w, r, efd int, routed bool) *framedCaller {
	pfd := []unix.PollFd{{Fd: int32(r), Events: unix.POLLIN}, {Fd: int32(efd), Events: unix.POLLIN}}
	wait := func() error {
		if _, err := unix.Ppoll(pfd, nil, nil); err != nil && err != unix.EINTR {
			return err
		}
		if pfd[1].Revents != 0 {
			return context.Canceled
		}
		return nil
	}
	in := make([]byte, readBufferSize)
	c := &framedCaller{routed: routed, pending: map[uint64]chan frame{}}
	c.exchange = func(out []byte) ([]byte, error) {
		if _, err := unix.Write(w, out); err != nil {
			return nil, err
		}
		return readFrame(r, in, wait)
	}
	return c
}

// call calls command with params and returns the reply frame.
func (c *framedCaller) call(command string, params Params) (frame, error) {
	id, ch := c.number()
	var err error
	c.out, err = appendFrame(c.out[:0], &frame{kind: kindCall, id: id, command: command, params: params})
	if err != nil {
		return frame{}, err
	}
	body, err := c.exchange(c.out)
	if err != nil {
		return frame{}, err
	}
	fr, err := decodeBodyWith(body, &c.last)
	if err != nil {
		return frame{}, err
	}
	if c.routed {
		fr = c.route(fr, ch)
	}
	if fr.kind != kindReply || fr.id != id {
		return frame{}, fmt.Errorf("call %d got a frame of kind %d for call %d", id, fr.kind, fr.id)
	}
	return fr, nil
}

// number returns the next call's id and, on the pending-call rung, the
// channel its reply will come on.
func (c *framedCaller) number() (uint64, chan frame) {
	if !c.routed {
		c.id++
		return c.id, nil
	}
	id := c.nextID.Add(1)
	ch := make(chan frame, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	return id, ch
}

// route hands fr to the channel of the call it answers, and returns what
// comes on ch, the channel of the call waiting.
func (c *framedCaller) route(fr frame, ch chan frame) frame {
	c.mu.Lock()
	to, ok := c.pending[fr.id]
	delete(c.pending, fr.id)
	c.mu.Unlock()
	if !ok {
		return frame{}
	}
	to <- fr
	return <-ch
}

// BenchmarkRawFramedRoundTrip is BenchmarkRawPollReadRoundTrip carrying a
// call frame ("echo", Params{"x": 1}) and its reply, encoded and decoded
// with the project's codec on both sides: the floor of a Call with
// MP_SPIN=0 for any library with this API.
func BenchmarkRawFramedRoundTrip(b *testing.B) { framedRoundTrip(b, rawFramed, false) }

// BenchmarkRawFramedCtxRoundTrip is BenchmarkRawFramedRoundTrip with a
// context of its own for each handler and the caller's pending-call map
// with a channel per call.
func BenchmarkRawFramedCtxRoundTrip(b *testing.B) { framedRoundTrip(b, rawFramedCtx, true) }

// framedRoundTrip times calls to the framed echo child in mode.
func framedRoundTrip(b *testing.B, mode string, routed bool) {
	c, pid := startFramedEcho(b, mode, routed)
	params := Params{"x": 1}
	defer measureCPU(b, pid)()
	for b.Loop() {
		if fr, err := c.call("echo", params); err != nil || fr.code != 0 {
			b.Fatal(fr.code, err)
		}
	}
}

// startFramedEcho starts the framed echo child in mode and returns a
// caller that waits for its replies as a Call does, and the child's PID.
func startFramedEcho(tb testing.TB, mode string, routed bool) (*framedCaller, int) {
	w, r, pid, stop := rawEchoPipes(tb, mode, unix.O_NONBLOCK)
	tb.Cleanup(stop)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(efd) })
	return newPipeCaller(w, r, efd, routed), pid
}

// BenchmarkFramedUserWork is the user-space work of one framed round trip,
// both sides in one goroutine with no system call: encode the call, decode
// it, look up and run the handler, encode the reply, decode it.
func BenchmarkFramedUserWork(b *testing.B) {
	for _, rung := range []struct {
		name string
		ctx  bool
	}{{"floor", false}, {"ctx-pending", true}} {
		b.Run(rung.name, func(b *testing.B) {
			c := newLocalCaller(newFramedEchoer(rung.ctx), rung.ctx)
			params := Params{"x": 1}
			for b.Loop() {
				if fr, err := c.call("echo", params); err != nil || fr.code != 0 {
					b.Fatal(fr.code, err)
				}
			}
		})
	}
}

// newLocalCaller returns a framedCaller whose calls e answers in place.
func newLocalCaller(e *framedEchoer, routed bool) *framedCaller {
	c := &framedCaller{routed: routed, pending: map[uint64]chan frame{}}
	c.exchange = func(out []byte) ([]byte, error) {
		reply, err := e.answer(out[4:])
		if err != nil {
			return nil, err
		}
		return reply[4:], nil
	}
	return c
}
