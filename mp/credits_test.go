package mp

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Fault: a Send's ctx ends just as credits arrive. (When the wait went
// through the runtime's poller, the ctx's AfterFunc moved the eventfd's read
// deadline into the past while take, done already, reset it; when the
// AfterFunc came last, the deadline stayed in the past, and every later Send
// that had to wait for credits failed at once with "i/o timeout".) Repeated,
// because it is a race.
func TestCreditsDeadlineNotLeftInThePast(t *testing.T) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(t, err)
	defer unix.Close(fd)
	c, _ := watchedCredits(t, fd)
	for i := range 20000 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			giveCredits(fd, 1)
			cancel()
		}()
		if c.take(ctx) != nil {
			// ctx won: the credit is still in the eventfd; take it now.
			require.NoError(t, c.take(context.Background()), "round %d", i)
		}
		cancel()
		// A fresh wait for a credit must work.
		go giveCredits(fd, 1)
		require.NoError(t, c.take(context.Background()), "round %d", i)
	}
}

// watchedCredits returns credits with none in hand on the eventfd efd,
// watching the read end of a new pipe, and that pipe's write end.
func watchedCredits(t *testing.T, efd int) (*credits, *os.File) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	c := newCredits(0, efd)
	c.watch(int(r.Fd()))
	return c, w
}

// Fault: the frontend closes the command pipe (it is stopping the process)
// while a handler waits for credits that will never come. The wait must end
// and credits become free; the loop, inside that handler, cannot read the
// pipe's end itself.
func TestCreditsWaitEndsWhenTheCommandPipeEnds(t *testing.T) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(t, err)
	defer unix.Close(fd)
	c, w := watchedCredits(t, fd)
	taken := make(chan error, 1)
	go func() { taken <- c.take(context.Background()) }()
	require.Never(t, func() bool { return len(taken) > 0 }, 50*time.Millisecond, time.Millisecond, "took a credit it did not have")
	require.NoError(t, w.Close())
	select {
	case err := <-taken:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the wait for credits did not end with the command pipe")
	}
	require.True(t, c.free.Load())
	require.NoError(t, c.take(context.Background()), "free credits need no wait")
}

// A Send whose ctx ends while it waits for credits returns ctx's cause.
func TestCreditsWaitEndsWithItsContext(t *testing.T) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(t, err)
	defer unix.Close(fd)
	c, _ := watchedCredits(t, fd)
	ctx, cancel := context.WithCancelCause(context.Background())
	taken := make(chan error, 1)
	go func() { taken <- c.take(ctx) }()
	cause := errors.New("caller gave up")
	cancel(cause)
	require.ErrorIs(t, <-taken, cause)
	go giveCredits(fd, 1)
	require.NoError(t, c.take(context.Background()), "a later wait works")
}
