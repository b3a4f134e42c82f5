package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mpgo/mp/internal/story"
)

// config is what the flags say.
type config struct {
	workers         int
	port            int
	sensorRate      int
	taskMillis      int
	idleTimeout     time.Duration
	shutdownTimeout time.Duration
	demo            bool
	addrFile        string
	client          string
	lines           []string
	sensorBackoff   time.Duration
	// For tests: onReady is called on the loop once ready; listen may
	// wrap the listener; asked, if set, is called by a connection after it
	// has handed a line to the loop and before it reads the answer.
	onReady func(addr string)
	listen  func(network, addr string) (net.Listener, error)
	asked   func(c net.Conn, line string)
}

// parseFlags checks the flags before anything starts.
func parseFlags(args []string) (config, error) {
	c := config{listen: net.Listen}
	fs := flag.NewFlagSet("extrafd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&c.workers, "workers", 4, "number of worker processes")
	fs.IntVar(&c.port, "port", 0, "TCP port on 127.0.0.1 for commands (0: any free port)")
	fs.IntVar(&c.sensorRate, "sensor-rate", 20, "ticks per second of the sensor")
	fs.DurationVar(&c.sensorBackoff, "sensor-backoff", 100*time.Millisecond, "wait before restarting a sensor that died")
	fs.IntVar(&c.taskMillis, "task-ms", 200, "milliseconds a task takes")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 30*time.Second, "a client that sends nothing for this long is disconnected")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long workers may take to stop before they are killed")
	fs.BoolVar(&c.demo, "demo", false, "once ready, talk to itself over TCP for a few commands, then stop")
	fs.StringVar(&c.addrFile, "addr-file", "", "write the listening address to this file once listening (for scripts)")
	fs.StringVar(&c.client, "client", "", "be a client of the server at this address (@file: read it from a file); send each argument (or each line of stdin) as a command, print the answers")
	defaults := func() string { return story.UsageText("part3/extrafd", fs, "-client ADDR [command...]") }
	usage := func(err error) error { return fmt.Errorf("extrafd: %v\n%s", err, defaults()) }
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return c, story.HelpError{Usage: defaults()}
	} else if err != nil {
		return c, usage(err)
	}
	c.lines = fs.Args()
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["client"] {
		if err := clientOnly(c.client, set); err != nil {
			return c, usage(err)
		}
		return c, nil
	}
	if err := c.check(fs.Args()); err != nil {
		return c, usage(err)
	}
	return c, nil
}

// writeAddr writes the listening address to -addr-file, if given.
func writeAddr(file, addr string) error {
	if file == "" {
		return nil
	}
	if err := os.WriteFile(file, []byte(addr+"\n"), 0o644); err != nil {
		return fmt.Errorf("-addr-file: %w", err)
	}
	return nil
}

// check says what is wrong with a server's flags and arguments, if anything.
func (c config) check(args []string) error {
	switch {
	case len(args) > 0:
		return fmt.Errorf("unexpected arguments %q (commands go with -client)", args)
	case c.workers < 1:
		return fmt.Errorf("-workers %d: want at least 1", c.workers)
	case c.workers > maxWorkers:
		return fmt.Errorf("-workers %d: want at most %d (%s)", c.workers, maxWorkers, workersWhy)
	case c.port < 0 || c.port > 65535:
		return fmt.Errorf("-port %d: want 0 to 65535", c.port)
	case c.sensorRate < 1 || c.sensorRate > 10000:
		return fmt.Errorf("-sensor-rate %d: want 1 to 10000", c.sensorRate)
	case c.taskMillis < 0 || c.taskMillis > maxTaskMillis:
		return fmt.Errorf("-task-ms %d: want 0 to %d (a task times out after %v)", c.taskMillis, maxTaskMillis, taskTimeout)
	case c.idleTimeout <= 0:
		return fmt.Errorf("-idle-timeout %v: want more than 0", c.idleTimeout)
	case c.sensorBackoff <= 0:
		return fmt.Errorf("-sensor-backoff %v: want more than 0", c.sensorBackoff)
	case c.shutdownTimeout < 0:
		return fmt.Errorf("-shutdown-timeout %v: want 0 or more", c.shutdownTimeout)
	}
	return nil
}

// clientOnly checks a client's flags: an address (HOST:PORT, or @FILE,
// read when the client starts), and none of the server's flags, which a
// client would ignore.
func clientOnly(addr string, set map[string]bool) error {
	if addr == "" {
		return errors.New("-client wants the server's address (127.0.0.1:PORT, or @FILE)")
	}
	if _, port, err := net.SplitHostPort(addr); !strings.HasPrefix(addr, "@") && (err != nil || port == "") {
		return fmt.Errorf("-client %q: want the server's address as HOST:PORT (127.0.0.1:7070), or @FILE", addr)
	}
	var server []string
	for name := range set {
		if name != "client" {
			server = append(server, "-"+name)
		}
	}
	if len(server) > 0 {
		slices.Sort(server)
		return fmt.Errorf("%s: the server's flags, not a client's (-client takes an address and commands)", strings.Join(server, ", "))
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
