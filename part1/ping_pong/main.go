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
	"fmt"
	"os"
	"strings"
	"time"

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
	param, err := m.String("param")
	if err != nil {
		return err
	}
	return b.Send(ctx, "pong", mp.Params{"result": strings.ToUpper(param)})
}

var myProcess = mp.NewKind("MyProcess", func(b *mp.Backend) *myBackend { return &myBackend{b} }).
	Handle("ping", (*myBackend).ping)

func main() {
	mp.Init()
	log := mp.NewLogger("main", mp.Front)
	ctx := context.Background()

	p, err := myProcess.Start(ctx, mp.Options{Name: "my-process"})
	if err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
	defer p.Stop()
	mp.Pause(time.Second)

	if err := (MyProcess{p}).Ping(ctx, "gotcha!"); err != nil {
		log.Error(err.Error())
		p.Stop()
		os.Exit(1)
	}
	log.Info("waiting for reply")

	// One select, several sources: the backend's messages and a timer. A
	// closed Messages channel means the backend is gone.
	select {
	case m, ok := <-p.Messages():
		if !ok {
			log.Error(fmt.Sprintf("backend exited before answering: %v", p.Err()))
			os.Exit(1)
		}
		result, err := m.String("result")
		if m.Command != "pong" || err != nil {
			log.Error(fmt.Sprintf("unexpected answer %q: %v", m.Command, err))
			p.Stop()
			os.Exit(1)
		}
		log.Info("got pong with " + result)
	case <-time.After(5 * time.Second):
		log.Error("no pong within 5 seconds")
		p.Stop()
		os.Exit(1)
	}

	if err := p.Stop(); err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
	log.Info("bye")
}
