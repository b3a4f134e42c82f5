package mp

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The floor of a Sync with this API: BenchmarkRawEventfdRoundTrip's wake-ups
// (a write that wakes the echo blocked in read(2), an eventfd written that
// wakes the caller), with BenchmarkSync's message in place of 8 raw bytes.
// The caller encodes a message frame ("set", Params{"event": 1}) with the
// project's codec and writes it with one write(2), then waits for the
// eventfd in ppoll(2) beside a cancel eventfd and reads it, as an event's
// Wait does once polling gives up; the echo (framedEcho) decodes the frame,
// looks its command up in a map of handlers, reads the event's number from
// the parameters and writes the eventfd. No event slots in shared memory,
// no goroutines, locks or contexts.
//
//	MP_SPIN=0 go test -run '^$' -bench 'RawEventfdRoundTrip|RawFramedEventRoundTrip|^BenchmarkSync$' -benchtime 100000x ./mp

// setEvent returns the framed event echo's "set": it writes the eventfd
// efd, the floor's one event, when the parameters name event 1.
func setEvent(efd int) framedHandler {
	return func(_ context.Context, p Params) Params {
		if n, err := p.Int("event"); err == nil && n == 1 {
			unix.Write(efd, one[:])
		}
		return nil
	}
}

// framedEventCaller sends "set" messages to the framed event echo and
// waits for its event.
type framedEventCaller struct {
	w      int // the command pipe's write end
	up     int // the event's eventfd (non-blocking)
	cancel int // what a Wait's ctx would write
	pid    int // the echo's
	out    []byte
	buf    [8]byte
}

// startFramedEventEcho starts the framed event echo on a new pipe and a
// new eventfd, stopped when the test ends.
func startFramedEventEcho(tb testing.TB) *framedEventCaller {
	var down [2]int
	require.NoError(tb, unix.Pipe2(down[:], unix.O_CLOEXEC))
	up, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(tb, err)
	cancel, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(tb, err)
	stop, pid := startRaw(tb, rawFramedEvent, down[0], up)
	unix.Close(down[0])
	tb.Cleanup(func() {
		unix.Close(down[1])
		stop()
		unix.Close(up)
		unix.Close(cancel)
	})
	return &framedEventCaller{w: down[1], up: up, cancel: cancel, pid: pid}
}

// send writes a message frame of command with params.
func (c *framedEventCaller) send(command string, params Params) error {
	var err error
	c.out, err = appendFrame(c.out[:0], &frame{kind: kindSend, command: command, params: params})
	if err != nil {
		return err
	}
	_, err = unix.Write(c.w, c.out)
	return err
}

// sync sends "set" with params and waits for the event.
func (c *framedEventCaller) sync(params Params) error {
	if err := c.send("set", params); err != nil {
		return err
	}
	return pollRead(c.up, c.cancel, c.buf[:])
}

// BenchmarkRawFramedEventRoundTrip is the floor of a Sync with MP_SPIN=0 for
// any library with this API (see above).
func BenchmarkRawFramedEventRoundTrip(b *testing.B) {
	c := startFramedEventEcho(b)
	params := Params{"event": 1}
	defer measureCPU(b, c.pid)()
	for b.Loop() {
		if err := c.sync(params); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFramedEventEchoSetsItsEvent: the framed event echo's handlers write
// the eventfd for "set" of event 1 only — not for another event's number,
// nor for a command there is no handler for — and answer no message, so
// that BenchmarkRawFramedEventRoundTrip times the wake-up a Sync waits for.
// Then the echo child does it across the pipe.
func TestFramedEventEchoSetsItsEvent(t *testing.T) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(t, err)
	defer unix.Close(efd)
	e := newFramedEchoer(false)
	e.handlers["set"] = setEvent(efd)
	for _, m := range []struct {
		command string
		params  Params
	}{{"set", Params{"event": 2}}, {"nope", Params{"event": 1}}, {"set", Params{"event": 1}}} {
		body, err := appendFrame(nil, &frame{kind: kindSend, command: m.command, params: m.params})
		require.NoError(t, err)
		out, err := e.answer(body[4:])
		require.NoError(t, err)
		assert.Nil(t, out, "an answer to message %q", m.command)
	}
	var buf [8]byte
	_, err = unix.Read(efd, buf[:])
	require.NoError(t, err, "the eventfd was never written")
	assert.Equal(t, uint64(1), binary.NativeEndian.Uint64(buf[:]), "writes of the eventfd")

	c := startFramedEventEcho(t)
	require.NoError(t, c.send("set", Params{"event": 1}))
	pfd := []unix.PollFd{{Fd: int32(c.up), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 10_000)
		if err == unix.EINTR {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, 1, n, "no event from the echo child within 10 s")
		break
	}
}
