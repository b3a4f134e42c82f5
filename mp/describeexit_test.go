package mp

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	testKind.Handle("exitwith", func(b *testBackend, ctx context.Context, m Message) error {
		// The handler's own code ends the process, as a user's os.Exit
		// does: the library says nothing first.
		code, err := m.Params.Int("code")
		if err != nil {
			return err
		}
		os.Exit(code)
		return nil
	})
}

// Fault: a backend's own code exits with one of the library's statuses (3
// to 7), saying nothing first. DescribeExit must not give that status the
// library's meaning ("exit status 3 (mp: its command pipe carried something
// that is not a frame)" was told of a handler's os.Exit(3), in the
// manager's log and the task's error, while the pipe was fine) but say that
// the backend's own code exited; a status the library does not use, or the
// Go runtime's 2, keeps what it says today.
func TestDescribeExitOfTheBackendsOwnExit(t *testing.T) {
	for _, code := range []int{3, 4, 5, 6, 7, 9} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			p := startTest(t, Options{})
			_, err := p.Call(context.Background(), "exitwith", Params{"code": code})
			require.ErrorIs(t, err, ErrBackendDied)
			<-p.Done()
			assert.Equal(t, EndDied, p.EndReason())
			want := fmt.Sprintf("exit status %d (the backend's own code exited: os.Exit, say; the library reported nothing)", code)
			if code == 9 {
				want = "exit status 9"
			}
			assert.Equal(t, want, p.DescribeExit())
		})
	}
}

// DescribeExit before the process has been reaped says it still runs.
func TestDescribeExitWhileRunning(t *testing.T) {
	p := startTest(t, Options{})
	assert.Equal(t, "still running", p.DescribeExit())
}

// The library's own statuses keep their meaning when the backend said so
// first: bad data on the command pipe (reported, then status 3) and a
// handler deaf to SIGTERM (announced at the signal, then status 4 once the
// grace period, StopTimeout and a second, has passed).
func TestDescribeExitOfTheLibrarysExits(t *testing.T) {
	out := &syncBuffer{}
	p := startTest(t, Options{Stdout: out, Stderr: out})
	_, err := p.conn.in.f.Write([]byte("\x0b\x00\x00\x00not a frame"))
	require.NoError(t, err)
	<-p.Done()
	assert.Equal(t, EndFatal, p.EndReason())
	assert.Equal(t, "exit status 3 (mp: its command pipe carried something that is not a frame)", p.DescribeExit())

	q := startTest(t, Options{StopTimeout: 100 * time.Millisecond})
	require.NoError(t, q.Send(context.Background(), "hang", nil))
	<-q.Messages()
	require.NoError(t, q.Signal(syscall.SIGTERM))
	<-q.Done()
	assert.Equal(t, EndTerminated, q.EndReason())
	assert.Equal(t, "exit status 4 (mp: still busy a grace period after SIGTERM)", q.DescribeExit())
}
