// Chapter 3, ping_pong: call the backend and get an answer back.
//
// The backend answers a ping with a pong message that carries a result. The
// frontend waits for it by selecting on the process's Messages channel,
// with a timeout beside it: the Go counterpart of select(2) over a pipe.
//
// Run it with: go run ./part1/ping_pong
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
	"github.com/mpgo/mp/mp"
)

// MyProcess is the frontend.
type MyProcess struct{ *mp.Process }

// Ping asks the backend for a pong; the answer comes later, on Messages.
func (p MyProcess) Ping(ctx context.Context, param string) error {
	return p.Send(ctx, "ping", mp.Params{"param": param})
}

// myBackend is the backend.
type myBackend struct{ *mp.Backend }

// ping computes a result and sends it back to the frontend as a "pong".
// It prints nothing: its line could come before or after the frontend's
// "waiting for reply", and this chapter's output is the same every time.
func (b *myBackend) ping(ctx context.Context, m mp.Message) error {
	param, err := m.Params.String("param")
	if err != nil {
		return err
	}
	return b.Send(ctx, "pong", mp.Params{"result": strings.ToUpper(param)})
}

var myProcess = mp.NewKind("MyProcess", func(b *mp.Backend) *myBackend { return &myBackend{b} }).
	Handle("ping", (*myBackend).ping)

func main() {
	mp.Init()
	// No flags, but -h says so, and anything else is a usage error.
	story.ParseFlags("part1/ping_pong")
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
	defer p.Close()
	if err := story.Pause(ctx, time.Second); err != nil {
		return err
	}

	if err := (MyProcess{p}).Ping(ctx, "gotcha!"); err != nil {
		return err
	}
	log.Info("waiting for reply")

	// One select, several sources: the backend's messages, a timer, and
	// ctx (Ctrl-C). A closed Messages channel means the backend is gone.
	select {
	case m, ok := <-p.Messages():
		if !ok {
			return fmt.Errorf("backend exited before answering: %v", p.Err())
		}
		result, err := m.Params.String("result")
		if m.Command != "pong" || err != nil {
			return fmt.Errorf("unexpected answer %q: %v", m.Command, err)
		}
		log.Info("got pong with " + result)
	case <-time.After(5 * time.Second):
		return errors.New("no pong within 5 seconds")
	case <-ctx.Done():
		return context.Cause(ctx)
	}

	if err := p.Close(); err != nil {
		return err
	}
	log.Info("bye")
	return nil
}
