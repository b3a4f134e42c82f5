// Command greeter is the smallest complete program built on mp: one backend
// process that answers calls. Copy it to start a program of your own.
//
//	go run ./examples/greeter Ada Grace
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mpgo/mp/mp"
)

// greeter is the backend's state. It exists only in the child process.
type greeter struct {
	*mp.Backend
	greeted int
}

// greet answers a "greet" call with a greeting for the name it carries.
func (g *greeter) greet(ctx context.Context, m mp.Message) error {
	name, err := m.Params.String("name")
	if err != nil {
		return err
	}
	g.greeted++
	return g.Reply(ctx, m, "greeting", mp.Params{
		"text": fmt.Sprintf("hello, %s (greeting %d, from pid %d)", name, g.greeted, os.Getpid()),
	})
}

// greeters is declared at package level, so that the re-executed child
// registers it before mp.Init looks for it.
var greeters = mp.NewKind("Greeter", func(b *mp.Backend) *greeter { return &greeter{Backend: b} }).
	Handle("greet", (*greeter).greet)

func main() {
	// First, always: in the child this runs the backend and exits.
	mp.Init()

	// The command line, with the flag package: -h prints the usage and
	// exits 0, an unknown flag exits 2; "--" lets a name start with "-".
	flag.Usage = func() { fmt.Fprintln(flag.CommandLine.Output(), "usage: greeter [name ...]") }
	flag.Parse()
	names := flag.Args()
	if len(names) == 0 {
		names = []string{"world"}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, names)
	if ctx.Err() != nil {
		// Ctrl-C or SIGTERM: run has stopped the backend, and its error
		// (the context's) is no failure. Exit as a shell reports the
		// signal: 130 for SIGINT, 143 for SIGTERM.
		cause := context.Cause(ctx)
		fmt.Fprintln(os.Stderr, "greeter:", cause)
		if strings.HasPrefix(cause.Error(), syscall.SIGTERM.String()) {
			os.Exit(128 + int(syscall.SIGTERM))
		}
		os.Exit(128 + int(syscall.SIGINT))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "greeter:", err)
		stop()
		os.Exit(1)
	}
}

// run starts the backend, greets every name through it, and stops it.
func run(ctx context.Context, names []string) error {
	// ctx bounds the start only; the deferred Close ends the process.
	p, err := greeters.Start(ctx, mp.Options{Name: "greeter-1"})
	if err != nil {
		return err
	}
	defer p.Close() // on every path out of run: no backend outlives us
	fmt.Printf("frontend pid %d started backend pid %d\n", os.Getpid(), p.Pid())

	for _, name := range names {
		// Each call gets its own deadline; the process keeps ctx's.
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		reply, err := p.Call(callCtx, "greet", mp.Params{"name": name})
		cancel()
		if err != nil {
			return fmt.Errorf("greeting %s: %w", name, err)
		}
		text, err := reply.Params.String("text")
		if err != nil {
			return err
		}
		fmt.Println(text)
	}
	return p.Close()
}
