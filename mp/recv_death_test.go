package mp

import (
	"context"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A backend killed while it writes large messages, and small ones: the
// receivers get what came whole, in order, then io.EOF, whether they
// read the pipe themselves or wait for the reader goroutine. restFor is an
// hour, so a receiver left beside an unarmed pipe would hang.
func TestRecvFromABackendKilledMidFrame(t *testing.T) {
	setForTest(t, &restFor, time.Hour)
	for _, off := range []bool{true, false} {
		setSpinOff(t, off)
		for _, size := range []int{8, 300_000} {
			p := startTest(t, Options{MessageBuffer: 2})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			require.NoError(t, p.Send(ctx, "burst", Params{"n": 1000, "size": size}))
			last := -1
			for k := 0; ; k++ {
				if k == 5 {
					require.NoError(t, p.Signal(syscall.SIGKILL))
				}
				m, err := p.Recv(ctx)
				if err == io.EOF {
					break
				}
				require.NoError(t, err, "after message %d (size %d, polling off %v)", last, size, off)
				i, err := m.Params.Int("i")
				require.NoError(t, err)
				require.Equal(t, last+1, i, "in order")
				last = i
			}
			cancel()
			require.Less(t, last, 999, "the backend was killed before it sent all")
			t.Logf("size %d, polling off %v: %d messages, then io.EOF", size, off, last+1)
		}
	}
}

// Receivers waiting when the process is closed, or its command pipe, get
// io.EOF, whether one of them may hold the pipe's token then (closed at
// once) or all three wait on Messages (closed once they do).
func TestRecvWaitingThroughCloseAndCloseSend(t *testing.T) {
	setForTest(t, &restFor, time.Hour)
	for _, closeSend := range []bool{false, true} {
		for _, off := range []bool{true, false} {
			for _, settled := range []bool{false, true} {
				setSpinOff(t, off)
				recvThroughClose(t, closeSend, settled)
			}
		}
	}
}

func recvThroughClose(t *testing.T, closeSend, settled bool) {
	p := startTest(t, Options{})
	_, err := p.Call(context.Background(), "echo", nil) // a Call lets the pipe go unarmed
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, 3)
	for range 3 {
		go func() { _, err := p.Recv(ctx); errs <- err }()
	}
	if settled {
		requireWithin(t, 5*time.Second, func() {
			for blockedCount("mp.(*frontConn).recv", "[select") < 3 {
				runtime.Gosched()
			}
		})
	}
	if closeSend {
		p.CloseSend()
	} else {
		require.NoError(t, p.Close())
	}
	for range 3 {
		require.Equal(t, io.EOF, <-errs, "close send %v, all waiting on Messages %v", closeSend, settled)
	}
}
