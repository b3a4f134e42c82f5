// Chapter 2, ping2: call the backend and wait until it is done.
//
// Ping in chapter 1 returned as soon as the message was on its way. Here
// the frontend's Ping blocks until the backend has finished the work, using
// an event, as Python's multiprocessing.Event: make one, send its ID with
// the message, wait for the backend to set it. The wait also ends if the backend dies, so it can never
// hang.
//
// Run it with: go run ./part1/ping2
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
	"github.com/mpgo/mp/mp"
)

// MyProcess is the frontend.
type MyProcess struct{ *mp.Process }

// Ping hands param to the backend and returns once the backend is done with
// it, or with an error if the backend died or ctx ended first.
func (p MyProcess) Ping(ctx context.Context, param string) error {
	// An event, as in Python: one side sets it, the other waits for it.
	done, err := p.NewEvent()
	if err != nil {
		return err
	}
	defer done.Close()
	// Its ID travels in the message: the backend's side of the event is
	// the same eventfd, so the ID names the same event there.
	if err := p.Send(ctx, "ping", mp.Params{"param": param, "event": done.ID()}); err != nil {
		return err
	}
	return done.Wait(ctx)
}

// myBackend is the backend.
type myBackend struct{ *mp.Backend }

// ping works for a while, then sets the event the frontend is waiting on.
func (b *myBackend) ping(ctx context.Context, m mp.Message) error {
	param, err := m.Params.String("param")
	if err != nil {
		return err
	}
	id, err := m.Params.Int("event")
	if err != nil {
		return err
	}
	done, err := b.Event(id)
	if err != nil {
		return err
	}
	b.Log().Info(fmt.Sprintf("got parameter %s, working", param))
	story.Pause(ctx, time.Second) // the "work"; it ends early on SIGTERM
	b.Log().Info("done")
	return done.Set()
}

var myProcess = mp.NewKind("MyProcess", func(b *mp.Backend) *myBackend { return &myBackend{b} }).
	Handle("ping", (*myBackend).ping)

func main() {
	mp.Init()
	// No flags, but -h says so, and anything else is a usage error.
	story.ParseFlags("part1/ping2")
	log := mplog.New("main", mplog.Front)
	// Ctrl-C (SIGINT) and SIGTERM cancel ctx instead of killing the
	// program. Every wait below takes ctx, so a signal unwinds run through
	// its deferred clean-up: the backend is stopped, nothing is left.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	story.Exit(ctx, log, run(ctx, log))
}

func run(ctx context.Context, log *slog.Logger) error {
	// Events is how many events the process may have open at once: one
	// is enough here, as only one Ping is in flight at a time.
	p, err := myProcess.Start(ctx, mp.Options{Name: "my-process", Events: 1})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := story.Pause(ctx, time.Second); err != nil {
		return err
	}

	log.Info("calling backend")
	if err := (MyProcess{p}).Ping(ctx, "gotcha!"); err != nil {
		return err
	}
	// Only now, after the backend's "done": that is the point of the chapter.
	log.Info("backend is ready")

	if err := p.Close(); err != nil {
		return err
	}
	log.Info("bye")
	return nil
}
