package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
)

// config is what the flags say.
type config struct {
	workers         int
	port            int
	fps             int
	taskMillis      int
	maxRestarts     int
	seed            uint64
	shutdownTimeout time.Duration
	check           bool
	addrFile        string
	onReady         func(addr string)                                // tests: called on the loop once ready
	listen          func(network, addr string) (net.Listener, error) // tests may wrap the listener
}

// parseFlags checks the flags before anything starts.
func parseFlags(args []string) (config, error) {
	c := config{listen: net.Listen}
	fs := flag.NewFlagSet("webview", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&c.workers, "workers", 20, "number of worker processes")
	fs.IntVar(&c.port, "port", 0, "HTTP port on 127.0.0.1 (0: any free port)")
	fs.IntVar(&c.fps, "fps", 10, "at most this many updates a second to each page")
	fs.IntVar(&c.taskMillis, "task-ms", 500, "milliseconds a task takes")
	fs.IntVar(&c.maxRestarts, "max-restarts", 10, "worker failures allowed within 5 s before the manager gives up")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed (which worker the kill button picks)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long workers may take to stop before they are killed")
	fs.BoolVar(&c.check, "check", false, "once ready, request each endpoint once, print what it answered, then stop")
	fs.StringVar(&c.addrFile, "addr-file", "", "write the listening address to this file once ready (for scripts)")
	defaults := func() string { return story.UsageText("part3/webview", fs) }
	usage := func(err error) error { return fmt.Errorf("webview: %v\n%s", err, defaults()) }
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return c, story.HelpError{Usage: defaults()}
	} else if err != nil {
		return c, usage(err)
	}
	if err := c.validate(fs.Args()); err != nil {
		return c, usage(err)
	}
	return c, nil
}

// validate says what is wrong with the flags and arguments, if anything.
func (c config) validate(args []string) error {
	switch {
	case len(args) > 0:
		return fmt.Errorf("unexpected arguments %q: webview takes no arguments", args)
	case c.workers < 1:
		return fmt.Errorf("-workers %d: want at least 1", c.workers)
	case c.workers > maxWorkers:
		return fmt.Errorf("-workers %d: want at most %d (%s)", c.workers, maxWorkers, workersWhy)
	case c.port < 0 || c.port > 65535:
		return fmt.Errorf("-port %d: want 0 to 65535", c.port)
	case c.fps < 1 || c.fps > 100:
		return fmt.Errorf("-fps %d: want 1 to 100", c.fps)
	case c.taskMillis < 0 || c.taskMillis > maxTaskMillis:
		return fmt.Errorf("-task-ms %d: want 0 to %d (a task times out after %v)", c.taskMillis, maxTaskMillis, taskTimeout)
	case c.maxRestarts < 0:
		return fmt.Errorf("-max-restarts %d: want 0 or more", c.maxRestarts)
	case c.shutdownTimeout < 0:
		return fmt.Errorf("-shutdown-timeout %v: want 0 or more", c.shutdownTimeout)
	}
	return nil
}

// announce does what the flags ask once every worker is ready: write the
// address for a script, tell a test, or run the -check requests. An
// address file it cannot write is an error: the script would wait for ever.
func (c config) announce(ctx context.Context, addr string, stop context.CancelFunc) error {
	if c.addrFile != "" {
		if err := writeAddr(c.addrFile, addr); err != nil {
			return err
		}
	}
	if c.onReady != nil {
		c.onReady(addr)
	}
	if c.check {
		go func() { defer stop(); check(ctx, addr, mplog.New("check", mplog.Front)) }()
	}
	return nil
}

// taskTimeout is how long a task may take; maxTaskMillis bounds -task-ms
// well below it, so that a task is never timed out for its length alone.
const (
	taskTimeout   = time.Minute
	maxTaskMillis = 30000
)

// maxWorkers bounds -workers, and workersWhy says why.
const (
	maxWorkers = 5000
	workersWhy = "each worker is a process: about 0.7 MiB and 5 of the frontend's descriptors apiece"
)
