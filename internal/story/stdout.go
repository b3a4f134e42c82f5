package story

import (
	"context"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// ErrStdoutClosed is the cause of a context from UntilStdoutCloses: the
// reader of standard output went away (chapter | head -1).
var ErrStdoutClosed = errors.New("standard output closed")

// UntilStdoutCloses returns a copy of parent that is cancelled, with cause
// ErrStdoutClosed, when standard output is a pipe and its reader closes it:
// a chapter that runs until stopped then ends cleanly, the way a Unix filter
// does, instead of running on with nobody to read it. Writes to a closed
// pipe already fail quietly after mp.Init; this is what ends the story.
// stop releases the watcher.
func UntilStdoutCloses(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	var st unix.Stat_t
	if err := unix.Fstat(int(os.Stdout.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return ctx, func() { cancel(nil) }
	}
	done := make(chan struct{})
	go func() {
		// A pipe's write end reports POLLERR once its last reader is gone.
		fds := []unix.PollFd{{Fd: int32(os.Stdout.Fd())}}
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			default:
			}
			n, err := unix.Poll(fds, 200)
			if err == nil && n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
				cancel(ErrStdoutClosed)
				return
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}
