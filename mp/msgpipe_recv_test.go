package mp

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/require"
)

// Fault: a Recv that cannot take the pipe's token, because a Call holds
// it, waits for the reader goroutine to deliver; the Call, letting the
// token go with no call left waiting, left the pipe unarmed for restFor
// (see letGo), and a message that came then waited that long for a
// reader. Receivers count as waiting, as Calls do (frontConn.waiting).
// Here restFor is an hour and polling off; the test plays the backend, and
// a Call's read of the pipe (readUntil) whose reply, the moment it looks,
// has come once the Recv waits.
func TestRecvWaitingWhileACallReadsGetsWhatComesAfter(t *testing.T) {
	setSpinOff(t, true)
	setForTest(t, &restFor, time.Hour)
	p, w := readerWaiting(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan string, 1)
	replied := p.conn.readUntil(context.Background(), func() bool {
		go func() {
			msg, err := p.Recv(ctx)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- msg.Command
		}()
		requireBlockedIn(t, "mp.(*frontConn).recv", "[select")
		return true
	}, nil)
	require.True(t, replied)

	fr, err := appendFrame(nil, &frame{kind: kindMessage, command: "later"})
	require.NoError(t, err)
	_, err = w.Write(fr)
	require.NoError(t, err)
	if cmd := <-got; cmd != "later" {
		p.conn.pipe.armIfFree() // so that the cleanup can end
		t.Fatalf("the waiting Recv got %q, not the message that came after the Call let go: the pipe was left unarmed", cmd)
	}
}

// requireBlockedIn waits, 5 s at most, until a goroutine running fn is
// blocked in state (see blockedIn).
func requireBlockedIn(t *testing.T, fn, state string) {
	t.Helper()
	requireWithin(t, 5*time.Second, func() {
		for !blockedIn(fn, state) {
			runtime.Gosched()
		}
	})
}

// blockedIn reports whether a goroutine running fn is blocked in the
// state the runtime's stack dump names (such as "[select").
func blockedIn(fn, state string) bool { return blockedCount(fn, state) > 0 }

// blockedCount counts the goroutines running fn blocked in state.
func blockedCount(fn, state string) int { return proctest.GoroutinesIn(fn, state) }
