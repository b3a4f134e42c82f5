// Chapter 1, ping: call a method in the frontend, and it runs in the backend.
//
// The program starts a second process, the backend, by re-executing itself.
// Calling Ping on the frontend only sends a message down a pipe; the
// backend's loop receives it and runs the handler registered for "ping" in
// the child process, whose PID differs from ours.
//
// Run it with: go run ./part1/ping
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

// MyProcess is the frontend: the methods that main calls. They run in this
// process and do nothing but send messages.
type MyProcess struct{ *mp.Process }

// Ping asks the backend to run its "ping" handler with param.
func (p MyProcess) Ping(ctx context.Context, param string) error {
	return p.Send(ctx, "ping", mp.Params{"param": param})
}

// myBackend is the backend: its state and handlers. Only the child ever
// builds one, so the frontend cannot touch it, by construction.
type myBackend struct {
	*mp.Backend
}

// ping runs in the child, when the frontend's Ping message arrives.
func (b *myBackend) ping(ctx context.Context, m mp.Message) error {
	param, err := m.Params.String("param")
	if err != nil {
		return err
	}
	b.Log().Info(fmt.Sprintf("got parameter %s in pid %d (the frontend is pid %d)", param, os.Getpid(), os.Getppid()))
	return nil
}

// The kind ties the name "MyProcess" to the backend's constructor and
// handlers. It is declared at package level so that the child finds it.
var myProcess = mp.NewKind("MyProcess", func(b *mp.Backend) *myBackend { return &myBackend{b} }).
	Handle("ping", (*myBackend).ping)

func main() {
	// In the child this call becomes the backend and never returns. In the
	// parent it returns at once, and the story begins.
	mp.Init()
	// The chapter takes no flags; -h says so, and anything on the command
	// line is a usage error (status 2), as in every chapter.
	story.ParseFlags("part1/ping")
	log := mplog.New("main", mplog.Front)
	// Ctrl-C (SIGINT) and SIGTERM cancel ctx instead of killing the
	// program. Every wait below takes ctx, so a signal unwinds run through
	// its deferred clean-up: the backend is stopped, nothing is left.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	story.Exit(ctx, log, run(ctx, log))
}

func run(ctx context.Context, log *slog.Logger) error {
	p, err := myProcess.Start(ctx, mp.Options{Name: "my-process"})
	if err != nil {
		return err
	}
	// Deferred, Close also runs when run returns early: an error, Ctrl-C.
	defer p.Close()
	log.Info(fmt.Sprintf("started backend pid %d from frontend pid %d", p.Pid(), os.Getpid()))
	if err := story.Pause(ctx, time.Second); err != nil {
		return err
	}

	// This looks like a method call, and it is one, in the frontend: the
	// work happens on the other side of the pipe.
	log.Info("calling ping")
	if err := (MyProcess{p}).Ping(ctx, "gotcha!"); err != nil {
		return err
	}
	if err := story.Pause(ctx, time.Second); err != nil {
		return err
	}

	// Close closes the command pipe; the backend handles what it has already
	// received, sees the end of the pipe and exits. Close waits for that.
	if err := p.Close(); err != nil {
		return err
	}
	log.Info("backend stopped, bye")
	return nil
}
