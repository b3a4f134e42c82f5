package manager

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Signals returns a context that ends at the first SIGINT or SIGTERM, and a
// channel closed at the second: give the context to Run and the channel to
// Config.Force, and a first Ctrl-C stops the workers gracefully while a
// second one kills them at once (and Run stops waiting for tasks). After
// the second, the signals act as by default again: a third Ctrl-C ends the
// program at once, whatever it waits for (what its deferred clean-up would
// have removed is then left to aux/cleanup.bash). stop releases the
// signals.
//
// Only the manager acts on these signals: mp's workers leave SIGINT to
// their frontend (a Ctrl-C in a terminal reaches the whole process group)
// and treat SIGTERM as a request to stop, which only the manager sends them.
func Signals(parent context.Context) (ctx context.Context, force <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	forced := make(chan struct{})
	end := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case s := <-ch:
				n++
				if n == 1 {
					cancel(&signalError{s})
				} else {
					close(forced)
					signal.Stop(ch) // a third one acts as by default
					return
				}
			case <-end:
				return
			}
		}
	}()
	return ctx, forced, func() {
		signal.Stop(ch)
		select {
		case <-end:
		default:
			close(end)
		}
		cancel(context.Canceled)
	}
}

// signalError is the cause of a context ended by a signal.
type signalError struct{ sig os.Signal }

// Error reads as signal.NotifyContext's cause does: "interrupt signal
// received".
func (e *signalError) Error() string { return e.sig.String() + " signal received" }
