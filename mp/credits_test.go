package mp

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Fault: a Send's ctx ends just as credits arrive. The ctx's AfterFunc
// moved the eventfd's read deadline into the past while take, done
// already, reset it; when the AfterFunc came last, the deadline stayed in
// the past, and every later Send that had to wait for credits failed at
// once with "i/o timeout". Repeated, because it is a race.
func TestCreditsDeadlineNotLeftInThePast(t *testing.T) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(t, err)
	c := newCredits(0, os.NewFile(uintptr(fd), "test-credits"))
	defer c.close()
	c.prerun.Store(false)
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
