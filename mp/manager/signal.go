package manager

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Signals returns a context that ends at the first SIGINT or SIGTERM, and a
// channel closed at the second: give the context to Run and the channel to
// Config.Force, and a first Ctrl-C stops the workers gracefully while a
// second one kills them at once (and Run stops waiting for tasks). After
// the second, the signals act as by default again: a third Ctrl-C ends the
// program at once, whatever it waits for (what its deferred clean-up would
// have removed is then left to aux/cleanup.bash). stop releases the
// signals and ends the context; it may be called more than once, from any
// goroutine, at the same time too (a deferred stop and one on an error
// path, say): the first call does it, and every call returns once it is
// done.
//
// Only the manager acts on SIGINT: mp's workers run in process groups of
// their own, so a Ctrl-C in a terminal reaches the manager alone, and a
// SIGINT sent to a worker anyway is dropped. A worker treats SIGTERM as a
// request to stop, whoever sends it: the manager's stop, the parent-death
// signal when its frontend dies, a kill, or a service manager such as
// systemd stopping the whole control group.
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
	var once sync.Once
	return ctx, forced, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(end)
			cancel(context.Canceled)
		})
	}
}

// signalError is the cause of a context ended by a signal.
type signalError struct{ sig os.Signal }

// Error reads as signal.NotifyContext's cause does: "interrupt signal
// received".
func (e *signalError) Error() string { return e.sig.String() + " signal received" }
