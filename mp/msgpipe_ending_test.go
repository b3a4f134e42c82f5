package mp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Fault: the reader goroutine, woken by a frame while a Call held the
// token, goes back to waiting with the pipe's one-shot entry spent (the
// kernel disables it as it reports it), not even watching for the pipe's
// end; the Call, having read that frame, leaves the pipe unarmed for
// restFor (see letGo). A backend asked to stop then exited unheard until
// the timer armed the pipe, and the process was reaped that much later: a
// Close after a burst of calls and messages took up to restFor more. Now
// CloseSend arms the pipe (expectEnd), and so does every letGo after it
// (the Call may let go after the stop began). Here restFor is an hour; the
// test plays the Call and the backend.
func TestStopHearsTheEndOfAPipeLeftUnarmedByACall(t *testing.T) {
	setForTest(t, &restFor, time.Hour)
	t.Run("Call lets go before the stop", func(t *testing.T) { stopAfterASpentWakeUp(t, false) })
	t.Run("Call lets go after the stop began", func(t *testing.T) { stopAfterASpentWakeUp(t, true) })
}

func stopAfterASpentWakeUp(t *testing.T, stopFirst bool) {
	p, w := readerWaiting(t)
	m := p.conn.pipe

	// A Call takes the token; a message comes and wakes the reader
	// goroutine, which finds the token taken and waits again, its wake-up
	// spent. The Call routes the message and lets go.
	require.True(t, m.take())
	msg, err := appendFrame(nil, &frame{kind: kindMessage, command: "last"})
	require.NoError(t, err)
	_, err = w.Write(msg)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return !m.armed.Load() }, 5*time.Second, time.Millisecond,
		"the reader goroutine takes its wake-up")
	require.NoError(t, p.conn.routeOne(m.nextWhole))
	require.Equal(t, "last", (<-p.Messages()).Command)
	if stopFirst {
		p.CloseSend()
	}
	m.letGo(p.conn.callsWaiting)

	// The stop, if not begun: the backend exits, its end of the pipe closes.
	p.CloseSend()
	p.cmd.Process.Kill()
	w.Close()
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		m.armIfFree() // so that the cleanup can end
		t.Fatal("the backend's exit after a stop was not heard within 5 s: the pipe was left unarmed")
	}
}
