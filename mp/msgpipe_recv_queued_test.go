package mp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Fault: a Recv that finds Messages empty but messages queued for the
// deliverer waits on Messages without trying the pipe's token, so no
// holder that let the token go before it registered arms the pipe for it
// (see waiting); a Call or Recv that let go with nobody waiting left the
// pipe unarmed for restFor (letGo). When the queued message goes to
// another reader of Messages, the Recv waits for the next message, which
// nobody reads for restFor: a millisecond in production, an hour here,
// with polling off. One reader is enough, too: queued still counts a
// message the deliverer has put in Messages until it counts down, after
// the send, so a receiver that took that message may find queued above
// zero next time (a burst of 100 messages received with Recv,
// MessageBuffer 4: 1.7 receives in 1,000 waited 0.9 ms or more). The test
// plays the Call and the backend; the inbox's lock, held by the test,
// stands for the scheduler that runs the deliverer late, with one message
// still queued; the other reader of Messages, waiting first, gets that
// message.
func TestRecvWaitingForQueuedMessagesGetsWhatComesAfter(t *testing.T) {
	setSpinOff(t, true)
	setForTest(t, &restFor, time.Hour)
	p, w := readerWaiting(t)
	c := p.conn
	m := c.pipe
	message := func(i int) frame {
		return frame{kind: kindMessage, command: "m", params: Params{"i": i}}
	}
	// The Call routes a buffer's worth of messages, and two more that
	// wait for the deliverer, then lets the token go with nobody waiting.
	require.True(t, m.take())
	m.disarm()
	buffer := cap(c.msgs)
	for i := range buffer + 2 {
		require.True(t, c.route(message(i)))
	}
	requireBlockedIn(t, "mp.(*frontConn).deliver", "[select")
	m.letGo(c.waiting)
	require.False(t, m.armed.Load(), "a Call that let go with nobody waiting leaves the pipe unarmed")

	// The first buffer+1 messages are read; the deliverer, run late,
	// still holds the last one queued.
	c.inbox.mu.Lock()
	for want := range buffer + 1 {
		got := <-c.msgs
		i, err := got.Params.Int("i")
		require.NoError(t, err)
		require.Equal(t, want, i)
	}
	requireBlockedIn(t, "mp.(*inbox).next", "[sync.Mutex.Lock")
	require.EqualValues(t, 1, c.queued.Load())

	other := make(chan Message, 1)
	go func() { other <- <-p.Messages() }()
	requireBlockedIn(t, "TestRecvWaitingForQueuedMessagesGetsWhatComesAfter.func", "[chan receive")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		msg, err := p.Recv(ctx)
		if err != nil {
			got <- err.Error()
			return
		}
		i, _ := msg.Params.Int("i")
		got <- msg.Command + " " + string(rune('0'+i))
	}()
	requireBlockedIn(t, "mp.(*frontConn).recv", "[select")
	c.inbox.mu.Unlock()
	o := <-other
	i, err := o.Params.Int("i")
	require.NoError(t, err)
	require.Equal(t, buffer+1, i, "the reader that waited first gets the queued message")

	fr, err := appendFrame(nil, &frame{kind: kindMessage, command: "later", params: Params{"i": 0}})
	require.NoError(t, err)
	_, err = w.Write(fr)
	require.NoError(t, err)
	if s := <-got; s != "later 0" {
		m.armIfFree() // so that the cleanup can end
		t.Fatalf("the waiting Recv got %q, not the message that came after: nobody read the pipe", s)
	}
}
