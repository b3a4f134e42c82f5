package mp

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mpgo/mp/internal/mplog"
)

// Tests of a connection on its own (conn.go): a frontConn and a backConn
// joined by real pipes and an eventfd in the test process, the frontConn's
// owner a fake (connOwner) and the backend's loop the test's own.

// connOwner is a frontConn's owner for the tests: commands may always be
// sent, a broken pipe means the peer died, and the pipe's end closes done.
type connOwner struct {
	c        *frontConn
	stopping chan struct{}
	done     chan struct{}

	mu      sync.Mutex
	bad     []error // what badData was told
	reports []frame // what control handled
}

func (o *connOwner) usable() error { return nil }

func (o *connOwner) sendError(err error) error {
	if errors.Is(err, syscall.EPIPE) {
		return ErrBackendDied
	}
	return err
}

func (o *connOwner) deathError() error { return ErrBackendDied }

func (o *connOwner) control(fr frame) bool {
	if fr.kind != kindReady && fr.kind != kindEnding {
		return false
	}
	o.mu.Lock()
	o.reports = append(o.reports, fr)
	o.mu.Unlock()
	return true
}

func (o *connOwner) badData(err error) {
	o.mu.Lock()
	o.bad = append(o.bad, err)
	o.mu.Unlock()
	o.c.failCalls(err)
}

func (o *connOwner) reap() {
	o.c.close()
	close(o.done)
}

// connEnds is a connection in the test process: front's reader goroutine
// runs if reading was asked for; back's command reader is open, its loop
// not started (serve).
type connEnds struct {
	front *frontConn
	back  *backConn
	owner *connOwner
	outW  *os.File // the backend's end of the message pipe

	cancelled chan uint64 // the ids of the cancel frames the backend read
}

// newConnEnds joins a frontConn whose Messages has room for buffer
// messages to a backConn. The cleanup ends the backend's side and waits
// for the frontend's to account for it.
func newConnEnds(t *testing.T, buffer int, reading bool) *connEnds {
	t.Helper()
	var undo undoList
	t.Cleanup(func() { undo.run() })
	ps, err := openPipes(&undo)
	require.NoError(t, err)
	cfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(t, err)
	dfd, err := unix.Dup(cfd) // the backend's, non-blocking too
	require.NoError(t, err)
	o := &connOwner{stopping: make(chan struct{}), done: make(chan struct{})}
	front := newFrontConn(o, "conn", mplog.New("Test.conn", mplog.Front), ps.cmdW, ps.cancW, buffer, o.stopping, o.done)
	front.credits = os.NewFile(uintptr(cfd), "test-credits")
	o.c = front
	back := newBackConn(ps.cmdR, ps.outW, os.NewFile(uintptr(dfd), "test-credits-back"), ps.cancR, front.window)
	cancelled := make(chan uint64, 16)
	require.NoError(t, back.openCommands(front.log, func(id uint64) {
		select {
		case cancelled <- id:
		default:
		}
	}))
	t.Cleanup(back.cmdSpin.release)
	require.NoError(t, front.open(ps.outR))
	if !reading {
		t.Cleanup(func() { front.credits.Close() })
	}
	if reading {
		go front.read()
		t.Cleanup(func() {
			ps.outW.Close() // the backend is gone: the reader reaps it
			front.closeSend()
			select {
			case <-o.done:
			case <-time.After(10 * time.Second):
				t.Error("the reader did not see the message pipe end")
			}
		})
	}
	t.Cleanup(back.commandsEnded)
	return &connEnds{front: front, back: back, owner: o, outW: ps.outW, cancelled: cancelled}
}

// echo runs a backend loop: each call is answered with its own command and
// params; each send is passed to sends (if not nil). It returns when the
// command pipe ends or is interrupted.
func (e *connEnds) echo(sends chan<- frame) {
	for {
		fr, err := e.back.read()
		if err != nil {
			return
		}
		if fr.kind == kindCall {
			e.back.write(context.Background(), &frame{kind: kindReply, id: fr.id, command: fr.command, params: fr.params})
		} else if sends != nil {
			sends <- fr
		}
	}
}

// Calls from several goroutines over one connection, and sends between
// them: every call gets its own reply, every send arrives, in order.
func TestConnCallsAndSends(t *testing.T) {
	e := newConnEnds(t, 8, true)
	sends := make(chan frame, 1000)
	go e.echo(sends)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				reply, err := e.front.call(ctx, &frame{kind: kindCall, command: "echo", params: Params{"g": g, "i": i}})
				if !assert.NoError(t, err) {
					return
				}
				rg, _ := reply.params.Int("g")
				ri, _ := reply.params.Int("i")
				assert.Equal(t, []int{g, i}, []int{rg, ri}, "the reply of another call")
			}
		})
	}
	for i := range 100 {
		require.NoError(t, e.front.send(ctx, &frame{kind: kindSend, command: "s", params: Params{"i": i}}, nil))
	}
	wg.Wait()
	for i := range 100 {
		fr := <-sends
		got, _ := fr.params.Int("i")
		require.Equal(t, i, got)
	}
	e.front.closeSend()
	require.ErrorIs(t, e.front.send(ctx, &frame{kind: kindSend, command: "late"}, nil), ErrStopped)
}

// Messages are flow-controlled by credits: with Messages unread, a backend
// sends 5 × the buffer (the channel's buffer and four more in the window)
// and then waits; reading a buffer's worth gives it credits back. Messages
// arrive in order, gathered or not.
func TestConnMessagesWaitForCredits(t *testing.T) {
	const buffer = 2
	e := newConnEnds(t, buffer, true)
	e.back.serve()
	ctx := context.Background()
	send := func(ctx context.Context, i int) error {
		return e.back.send(ctx, &frame{kind: kindMessage, command: "m", params: Params{"i": i}})
	}
	for i := range 5 * buffer {
		require.NoError(t, send(ctx, i), "message %d", i)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, send(short, 5*buffer), context.DeadlineExceeded, "a send beyond the credits did not wait")
	for i := range buffer {
		m := <-e.front.messages()
		got, _ := m.Params.Int("i")
		require.Equal(t, i, got)
	}
	require.NoError(t, send(ctx, 5*buffer)) // credits came back
	e.back.writeGathered()
	for i := buffer; i <= 5*buffer; i++ {
		m := <-e.front.messages()
		got, _ := m.Params.Int("i")
		require.Equal(t, i, got)
	}
}

// Before the loop starts (a pre-run hook), nobody reads Messages: a send
// that finds no credit fails at once with ErrQueueFull instead of waiting.
func TestConnSendBeforeServeFailsWithoutCredits(t *testing.T) {
	e := newConnEnds(t, 1, false) // nothing reads, nothing gives credits back
	for i := range e.front.window {
		require.NoError(t, e.back.send(context.Background(), &frame{kind: kindMessage, command: "m"}), "message %d", i)
	}
	err := e.back.send(context.Background(), &frame{kind: kindMessage, command: "m"})
	assert.ErrorIs(t, err, ErrQueueFull)
}

// A call whose ctx ends while the backend handles it tells the backend on
// the cancel pipe, with the call's id, before it returns.
func TestConnCancelReachesTheBackend(t *testing.T) {
	e := newConnEnds(t, 1, true)
	cancelled := e.cancelled
	e.back.serve()
	calls := make(chan uint64, 1)
	go func() { // a backend that never answers
		for {
			fr, err := e.back.read()
			if err != nil {
				return
			}
			calls <- fr.id
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.front.call(ctx, &frame{kind: kindCall, command: "slow"})
		errc <- err
	}()
	id := <-calls
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	assert.Equal(t, id, <-cancelled)
}

// closeSend ends the backend's read of commands (io.EOF, after the frames
// sent before it); interrupt ends a read waiting for a command.
func TestConnCloseSendAndInterruptEndTheBackendsRead(t *testing.T) {
	e := newConnEnds(t, 1, true)
	require.NoError(t, e.front.send(context.Background(), &frame{kind: kindSend, command: "last"}, nil))
	e.front.closeSend()
	fr, err := e.back.read()
	require.NoError(t, err)
	assert.Equal(t, "last", fr.command)
	_, err = e.back.read()
	assert.ErrorIs(t, err, io.EOF)

	e = newConnEnds(t, 1, true)
	errc := make(chan error, 1)
	go func() {
		_, err := e.back.read()
		errc <- err
	}()
	e.back.interrupt()
	assert.ErrorIs(t, <-errc, os.ErrDeadlineExceeded)
}

// Frames the backend sends about itself go to the owner; when the message
// pipe ends, the owner reaps the backend and Messages closes after the
// messages sent before.
func TestConnPipeEndReachesTheOwner(t *testing.T) {
	e := newConnEnds(t, 4, true)
	ctx := context.Background()
	require.NoError(t, e.back.write(ctx, &frame{kind: kindReady}))
	require.NoError(t, e.back.send(ctx, &frame{kind: kindMessage, command: "m"}))
	require.NoError(t, e.back.write(ctx, &frame{kind: kindEnding, code: ErrorCode(EndSelf)}))
	e.outW.Close()
	m, ok := <-e.front.messages()
	require.True(t, ok)
	assert.Equal(t, "m", m.Command)
	_, ok = <-e.front.messages()
	assert.False(t, ok, "Messages is not closed after the pipe's end")
	<-e.owner.done
	e.owner.mu.Lock()
	defer e.owner.mu.Unlock()
	require.Len(t, e.owner.reports, 2)
	assert.Equal(t, []frameKind{kindReady, kindEnding}, []frameKind{e.owner.reports[0].kind, e.owner.reports[1].kind})
}

// Bad data on the message pipe, and a frame of a kind that has no business
// there, fail the calls waiting and go to the owner (which kills the
// backend).
func TestConnBadDataFailsTheCalls(t *testing.T) {
	for _, bad := range []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"not a frame", func(*testing.T) []byte { return []byte("\x0b\x00\x00\x00not a frame") }},
		{"a command", func(t *testing.T) []byte {
			buf, err := appendFrame(nil, &frame{kind: kindCall, command: "back"})
			require.NoError(t, err)
			return buf
		}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			e := newConnEnds(t, 1, true)
			calls := make(chan struct{})
			go func() { // writes the bad data once the call is out
				if _, err := e.back.read(); err == nil {
					close(calls)
				}
			}()
			errc := make(chan error, 1)
			go func() {
				_, err := e.front.call(context.Background(), &frame{kind: kindCall, command: "c"})
				errc <- err
			}()
			<-calls
			_, err := e.outW.Write(bad.data(t))
			require.NoError(t, err)
			assert.ErrorIs(t, <-errc, ErrBackendDied)
			e.owner.mu.Lock()
			defer e.owner.mu.Unlock()
			assert.Len(t, e.owner.bad, 1)
		})
	}
}

// A message written right behind a reply that the Call read itself reaches
// Messages: the Call routes what it read into the buffer with the reply
// before it lets the token go (the reader goroutine looks only at the
// pipe), and the reader reads what is left in the pipe. Repeated, because
// who reads the message is a race. Without the Call's routing of its
// buffer, a message is lost within the first calls.
func TestConnMessageBehindAReplyIsDelivered(t *testing.T) {
	e := newConnEnds(t, 1, true)
	e.back.serve()
	go func() {
		for {
			fr, err := e.back.read()
			if err != nil {
				return
			}
			e.back.write(context.Background(), &frame{kind: kindReply, id: fr.id})
			e.back.send(context.Background(), &frame{kind: kindMessage, command: "after", params: fr.params})
			e.back.writeGathered()
		}
	}()
	for i := range 300 {
		_, err := e.front.call(context.Background(), &frame{kind: kindCall, command: "c", params: Params{"i": i}})
		require.NoError(t, err)
		select {
		case m := <-e.front.messages():
			got, _ := m.Params.Int("i")
			require.Equal(t, i, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("call %d: the message behind its reply never came", i)
		}
	}
}
