package mp

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Fault: the reader goroutine, about to wait again right after draining
// the pipe, skipped taking the wake-up that a Call's arming may have left
// in the pipe's epoll instance meanwhile (the Call took the token between
// the drain and the wait, read, and armed the pipe as it let go, with a
// message in it). The runtime's poller, which is edge-triggered on that
// instance, had taken the edge before the reader waited, and the reader's
// own arming found the wake-up still queued and made no new edge: the
// reader waited forever beside a message (and, at a stop, beside the
// pipe's end: Shutdown hung in BenchmarkCallWhileBusy). Here the test plays
// that Call, and the reader, which does not poll, waits again only once the
// runtime's poller has looked.
func TestReaderTakesAWakeUpLeftWhileItDrained(t *testing.T) {
	type pipeEnds struct {
		m *msgPipe
		w *os.File
	}
	ends := make(chan pipeEnds, 1) // the hook's first run plays the Call
	called, goOn := make(chan struct{}), make(chan struct{})
	setForTest(t, &beforeAwait, func() {
		var e pipeEnds
		select {
		case e = <-ends:
		default:
			return
		}
		defer func() { <-goOn }()
		defer close(called)
		// The Call: takes the token, finds the pipe empty, lets go
		// with a message in it and the stop begun, so that it arms.
		if !e.m.take() {
			t.Error("the token is held: the reader did not let it go")
			return
		}
		msg, err := appendFrame(nil, &frame{kind: kindMessage, command: "meanwhile"})
		if err == nil {
			_, err = e.w.Write(msg)
		}
		if err != nil {
			t.Error(err)
		}
		e.m.ending.Store(true)
		e.m.letGo(func() bool { return false })
	})
	setForTest(t, &restFor, time.Hour) // only arming wakes the reader
	setSpinOff(t, true)                // the reader does not poll: it waits
	// Both set before readingProcess, whose cleanup ends the reader before
	// theirs put the variables back.
	p, w := readingProcess(t)
	ends <- pipeEnds{p.conn.pipe, w}

	first, err := appendFrame(nil, &frame{kind: kindMessage, command: "first"})
	require.NoError(t, err)
	_, err = w.Write(first) // wakes the reader; it drains, then meets the Call
	require.NoError(t, err)
	requireWithin(t, 5*time.Second, func() { <-called })
	afterThePollerLooked(t) // it has taken the edge of the Call's arming
	close(goOn)
	for _, want := range []string{"first", "meanwhile"} {
		select {
		case got := <-p.Messages():
			require.Equal(t, want, got.Command)
		case <-time.After(5 * time.Second):
			p.conn.pipe.armIfFree() // so that the cleanup can end
			t.Fatalf("message %q never delivered: the reader waits beside it", want)
		}
	}
}
