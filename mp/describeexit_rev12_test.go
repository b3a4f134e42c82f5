package mp

import (
	"context"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	testKind.Handle("panicatend", func(b *testBackend, ctx context.Context, m Message) error {
		// Tell the frontend we are inside, then panic once the backend's
		// context ends (SIGTERM): a handler whose clean-up code panics.
		if err := b.Send(ctx, "waiting", nil); err != nil {
			return err
		}
		<-ctx.Done()
		panic("clean-up after SIGTERM failed")
	})
}

// Fault: a backend reports a fatal error (a handler's panic, status 7)
// after another end was known: a stop the frontend asked for
// (EndRequested) here, or SIGTERM (EndTerminated). The first end reason wins, so
// EndReason is not EndFatal, and DescribeExit told the panic the library
// reported as "the backend's own code exited: os.Exit, say; the library
// reported nothing", in the manager's log and the task's error. A status
// the library gives is now told with its meaning when the backend reported
// the fatal error, whatever the end reason.
func TestDescribeExitOfAFatalErrorAfterSIGTERM(t *testing.T) {
	out := &syncBuffer{}
	p := startTest(t, Options{Stdout: out, Stderr: out})
	require.NoError(t, p.Send(context.Background(), "panicatend", nil))
	<-p.Messages()
	// The stop is asked for first, in this process: EndRequested is the
	// end reason whatever the backend then says. (With SIGTERM alone the
	// backend's announcement of it and the handler's panic race: either
	// may come first.)
	p.CloseSend()
	require.NoError(t, p.Signal(syscall.SIGTERM))
	<-p.Done()
	require.Equal(t, EndRequested, p.EndReason(), "the stop was asked for first")
	var re *RemoteError
	require.ErrorAs(t, p.Wait(context.Background()), &re, "the panic was reported")
	assert.Equal(t, "exit status 7 (mp: a handler panicked)", p.DescribeExit())
}
