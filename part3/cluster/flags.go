package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/mpgo/mp/internal/story"
)

// config is what the flags say. The defaults are the chapter as a reader
// runs it; the tests make it short.
type config struct {
	nats       string // an existing server or cluster; "" starts one here
	worker     bool   // run only this host's workers
	name       string
	listen     string
	creds      string
	urlFile    string
	workers    int
	hosts      int
	tasks      int
	seed       uint64
	unit       float64
	ackWait    time.Duration
	maxDeliver int
	fault      string
	timeout    time.Duration
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.nats, "nats", "", "URL of an existing NATS server or cluster (nats://[token@]host:port,...); empty: start one in this process")
	fs.BoolVar(&c.worker, "worker", false, "run only this host's workers, for the server of -nats, until Ctrl-C")
	fs.StringVar(&c.name, "name", "local", "this host's name in the results")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:0", "where the embedded server listens; beyond loopback it requires a token, made at start and printed once")
	fs.StringVar(&c.creds, "creds", "", "a NATS credentials file (user JWT and NKey seed) to connect with")
	fs.StringVar(&c.urlFile, "url-file", "", "write the embedded server's URL (with its token) to this file, mode 0600, for other hosts; removed when the server stops")
	fs.IntVar(&c.workers, "workers", 3, "worker processes on this host (0: only submit)")
	fs.IntVar(&c.hosts, "hosts", 1, "worker hosts to wait for before submitting")
	fs.IntVar(&c.tasks, "tasks", 6, "tasks to submit")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed of the values and work times")
	fs.Float64Var(&c.unit, "time-scale", 0.5, "seconds per unit of work time (a task takes 1 to 4 units)")
	fs.DurationVar(&c.ackWait, "ack-wait", 30*time.Second, "how long a task may go without news from its host before it is redelivered")
	fs.IntVar(&c.maxDeliver, "max-deliver", 3, "deliveries of a task before it is reported failed")
	fs.StringVar(&c.fault, "fault", "", "poison: task 2 panics its worker on every delivery")
	fs.DurationVar(&c.timeout, "timeout", 0, "give up waiting for the worker hosts and the results after this long (0: wait until Ctrl-C)")
	usage := func(err error) error {
		return fmt.Errorf("cluster: %v\n%s", err, story.UsageText("part3/cluster", fs))
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return c, story.HelpError{Usage: story.UsageText("part3/cluster", fs)}
	} else if err != nil {
		return c, usage(err)
	}
	host, _, err := net.SplitHostPort(c.listen)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case fs.NArg() > 0:
		return c, usage(fmt.Errorf("unexpected arguments %q", fs.Args()))
	case c.nats != "" && (set["listen"] || set["url-file"]):
		return c, usage(errors.New("-listen and -url-file are for the server this process starts: not with -nats"))
	case c.worker && c.nats == "":
		return c, usage(errors.New("-worker needs -nats: the URL of the server to work for"))
	case c.worker && c.workers < 1:
		return c, usage(fmt.Errorf("-workers %d: a worker host needs at least 1", c.workers))
	case c.workers < 0:
		return c, usage(fmt.Errorf("-workers %d: want 0 or more", c.workers))
	case c.tasks < 0:
		return c, usage(fmt.Errorf("-tasks %d: want 0 or more", c.tasks))
	case c.hosts < 0:
		return c, usage(fmt.Errorf("-hosts %d: want 0 or more", c.hosts))
	case c.workers > maxWorkers:
		return c, usage(fmt.Errorf("-workers %d: want at most %d (%s)", c.workers, maxWorkers, workersWhy))
	case c.workers == 0 && c.hosts < 1:
		return c, usage(errors.New("-workers 0 needs -hosts 1 or more: someone must run the tasks"))
	case err != nil || host == "":
		return c, usage(fmt.Errorf("-listen %q: want host:port", c.listen))
	case !(c.unit >= 0):
		return c, usage(fmt.Errorf("-time-scale %v: want 0 or more", c.unit))
	case c.timeout < 0:
		return c, usage(fmt.Errorf("-timeout %v: want 0 (wait until Ctrl-C) or more", c.timeout))
	case c.ackWait <= 0:
		return c, usage(fmt.Errorf("-ack-wait %v: want more than 0", c.ackWait))
	case c.maxDeliver < 1:
		return c, usage(fmt.Errorf("-max-deliver %d: want at least 1", c.maxDeliver))
	case c.fault != "" && c.fault != "poison":
		return c, usage(fmt.Errorf("-fault %q: want poison", c.fault))
	}
	return c, nil
}

// splitListen splits a checked -listen value.
func splitListen(listen string) (string, int) {
	host, port, _ := net.SplitHostPort(listen)
	n, _ := strconv.Atoi(port)
	return host, n
}

// maxWorkers bounds -workers, and workersWhy says why.
const (
	maxWorkers = 5000
	workersWhy = "each worker is a process: about 0.7 MiB and 5 of the frontend's descriptors apiece"
)
