package mp

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/require"
)

// Fault: the reader goroutine, entering await right after a drain, armed
// the pipe without first taking the wake-up its epoll instance might hold
// (woken), trusting that the pipe stays unarmed while the reader holds the
// token. It does not: a Call that lets the token go arms the pipe after
// giving it up (letGo), and a reader woken a moment before, but run late,
// takes the token in between. Data that comes while the reader drains
// such an armed pipe, after its last read, then wakes the runtime's poller
// before the reader waits again; RawConn.Read, entered anew, forgets that
// wake-up (prepareRead), and arming an entry the kernel still holds ready
// (linked, not yet reported) wakes nothing. The data, or the pipe's end,
// was then heard only when more data came: a last message never, and a
// Close never returned. Here the test plays the backend and the Call;
// armMu, held while the reader is woken, stands for the scheduler that
// runs it late. Polling is off and restFor an hour, so nothing but the
// arming can wake the reader.
func TestWhatComesWhileTheReaderDrainsAnArmedPipeWakesIt(t *testing.T) {
	setSpinOff(t, true)
	setForTest(t, &restFor, time.Hour)
	t.Run("a message", func(t *testing.T) { drainAnArmedPipe(t, false) })
	t.Run("the pipe's end", func(t *testing.T) { drainAnArmedPipe(t, true) })
}

// readerWaiting is readingProcess once its reader goroutine waits in the
// runtime's poller, the pipe armed.
func readerWaiting(t *testing.T) (*Process, *os.File) {
	t.Helper()
	p, w := readingProcess(t)
	requireWithin(t, 5*time.Second, func() {
		for !parkedInThePoller("mp.(*frontConn).read") {
			runtime.Gosched()
		}
	})
	require.True(t, p.conn.pipe.armed.Load(), "the reader goroutine waits, the pipe armed")
	return p, w
}

func drainAnArmedPipe(t *testing.T, end bool) {
	p, w := readerWaiting(t)
	m := p.conn.pipe
	write := func(fr *frame) {
		buf, err := appendFrame(nil, fr)
		require.NoError(t, err)
		_, err = w.Write(buf)
		require.NoError(t, err)
	}
	hold := readerDrainsAPipeArmedByACall(t, p, write)

	// What comes now, after the reader's last read, wakes the runtime's
	// poller before the reader waits again.
	if end {
		p.cmd.Process.Kill()
		w.Close()
	} else {
		write(&frame{kind: kindMessage, command: "last"})
	}
	afterThePollerLooked(t)
	<-hold // the reader routes on, finds the pipe drained, and waits

	require.Equal(t, "first", (<-p.Messages()).Command)
	unstick := func() { // lets the reader goroutine end after a failure
		m.eprc.Control(func(ep uintptr) { m.woken(int(ep)) })
		m.armIfFree()
	}
	if end {
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second):
			unstick()
			t.Fatal("the pipe's end, come during the drain, was not heard within 5 s")
		}
		return
	}
	select {
	case msg := <-p.Messages():
		require.Equal(t, "last", msg.Command)
	case <-time.After(5 * time.Second):
		unstick()
		t.Fatal("the message that came during the drain was not read within 5 s")
	}
}

// readerDrainsAPipeArmedByACall plays a Call that takes the token as a
// message ("first") wakes the reader goroutine, which runs late (here:
// blocked in woken on armMu), and that arms the pipe as it lets go, after
// the reader has taken the token in between and read a reply behind the
// message. It returns with the reader draining the armed pipe, stopped on
// that reply's channel (unbuffered), which the caller receives to let it
// go on.
func readerDrainsAPipeArmedByACall(t *testing.T, p *Process, write func(*frame)) chan callResult {
	m := p.conn.pipe
	const heldID = 1 << 40
	hold := make(chan callResult)
	p.conn.mu.Lock()
	p.conn.pending[heldID] = hold
	p.conn.mu.Unlock()

	m.armMu.Lock()
	locked := true
	t.Cleanup(func() {
		if locked {
			m.armMu.Unlock()
		}
	})
	require.True(t, m.take())
	write(&frame{kind: kindMessage, command: "first"})
	requireWithin(t, 5*time.Second, func() {
		for !goroutineIn("(*msgPipe).woken") {
			runtime.Gosched()
		}
	})
	m.setArmed(false) // the Call's disarm (armMu is held)
	require.NoError(t, p.conn.routeOne(m.nextWhole))
	require.True(t, m.src.emptied, "the Call's read emptied the pipe")
	write(&frame{kind: kindReply, id: heldID, command: "held"})

	// The Call lets go, arming the pipe (other calls wait, say); between
	// the two, the reader takes the token, reads the reply and routes it.
	m.letGo(func() bool {
		m.armMu.Unlock()
		locked = false
		requireWithin(t, 5*time.Second, func() {
			for !goroutineIn("(*frontConn).route") {
				runtime.Gosched()
			}
		})
		return true
	})
	require.True(t, m.tok.Load(), "the reader drains")
	require.True(t, m.armed.Load(), "the Call armed the pipe")
	return hold
}

// afterThePollerLooked returns once the runtime's poller has taken the
// readiness that writes made before the call gave it: a goroutine parked
// on a pipe of its own is woken by a write made after them, and the kernel
// reports ready descriptors in the order they became ready.
func afterThePollerLooked(t *testing.T) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	read := make(chan struct{})
	go parkedOnAPipe(r, read)
	requireWithin(t, 5*time.Second, func() {
		for !parkedInThePoller("mp.parkedOnAPipe") {
			runtime.Gosched()
		}
	})
	_, err = w.Write([]byte{1})
	require.NoError(t, err)
	requireWithin(t, 5*time.Second, func() { <-read })
}

func parkedOnAPipe(r *os.File, read chan<- struct{}) {
	var b [1]byte
	r.Read(b[:])
	close(read)
}

// parkedInThePoller reports whether a goroutine running fn waits in the
// runtime's poller.
func parkedInThePoller(fn string) bool { return proctest.GoroutinesIn(fn, "[IO wait") > 0 }
