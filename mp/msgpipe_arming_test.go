package mp

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A Call that lets the pipe go before its reply has come arms it (letGo,
// callsWait): the reply wakes the reader goroutine at once. Otherwise only
// the timer that arms the pipe restFor later would, and a reply would wait
// for it; here restFor is an hour, so the reply must come by the arming
// alone. The Call waits neither by polling nor in the kernel (blockFor
// 0), and the test, playing the backend, writes the reply only once the
// Call waits for the reader (in awaitReply).
func TestCallThatLetGoBeforeItsReplyArmsThePipe(t *testing.T) {
	setForTest(t, &blockFor, 0)
	setForTest(t, &restFor, time.Hour)
	p, w := readingProcess(t)
	m := p.conn.pipe
	t.Cleanup(m.armIfFree)
	for i := range 20 {
		errc := make(chan error, 1)
		go func() {
			_, err := p.Call(context.Background(), "echo", nil)
			errc <- err
		}()
		requireWithin(t, 5*time.Second, func() {
			for !goroutineIn("(*frontConn).awaitReply") {
				runtime.Gosched()
			}
		})
		reply, err := appendFrame(nil, &frame{kind: kindReply, id: p.conn.nextID.Load(), command: "echo"})
		require.NoError(t, err)
		_, err = w.Write(reply)
		require.NoError(t, err)
		select {
		case err := <-errc:
			require.NoError(t, err, "call %d", i)
		case <-time.After(5 * time.Second):
			m.armIfFree() // lets the call return
			<-errc
			t.Fatalf("call %d: the reply did not wake the reader", i)
		}
	}
}
