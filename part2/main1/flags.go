package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mpgo/mp/internal/story"
)

// config is what the flags say. The defaults are the chapter as a reader
// runs it; the tests make it short and deterministic.
type config struct {
	mode             string
	workers, jobs    int
	duration         time.Duration
	seed             uint64
	unit             float64 // seconds per unit of work time
	timeout          time.Duration
	stillAlive       time.Duration
	shutdownTimeout  time.Duration
	scale            int
	scaleMessages    int // -scale's fan-in: messages in all (0: messagesPerWorker each)
	startConcurrency int
	fault            string
	recycle          int
	floorChild       bool
	tasks            int
}

// parseFlags checks the flags before anything starts: a bad value is a
// usage error, never a half-started manager; -h is a story.HelpError.
func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("main1", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.mode, "mode", "main", "main: run until Ctrl-C; test: run for -duration, then stop")
	fs.IntVar(&c.workers, "workers", 5, "number of worker processes")
	fs.IntVar(&c.jobs, "jobs", 3, "jobs in flight at once (at most -workers)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long test mode runs once the workers are ready")
	fs.IntVar(&c.tasks, "tasks", 0, "test mode: stop once this many tasks are done, if that comes before -duration (0: -duration only)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed of values and work times")
	fs.Float64Var(&c.unit, "time-scale", 1, "seconds per unit of work time (a task takes 1 to 4 units)")
	fs.DurationVar(&c.timeout, "timeout", 0, "task timeout (0: none): past it the worker is stopped and replaced")
	fs.DurationVar(&c.stillAlive, "still-alive", 3*time.Second, `log "still alive" after this long without events`)
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 5*time.Second, "how long workers may take to stop before they are killed")
	fs.IntVar(&c.scale, "scale", 0, "measure: start this many workers, have each report ready, stop them, print the figures")
	fs.IntVar(&c.scaleMessages, "scale-messages", 0, "-scale's fan-in: about this many messages in all, spread over the workers (0: 1000 per worker)")
	fs.IntVar(&c.startConcurrency, "start-concurrency", 8, "worker starts in progress at once")
	fs.StringVar(&c.fault, "fault", "", "inject a fault in every task, for the tests: crash or hang")
	fs.IntVar(&c.recycle, "tasks-per-worker", 0, "a worker ends itself after this many tasks and is replaced (0: never)")
	fs.BoolVar(&c.floorChild, floorChildFlag, false, "internal: a process of -scale's floor (writes one byte, waits for the end of stdin)")
	usage := func(err error) error {
		return fmt.Errorf("main1: %v\n%s", err, story.UsageText("part2/main1", public(fs)))
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return c, story.HelpError{Usage: story.UsageText("part2/main1", public(fs))}
	} else if err != nil {
		return c, usage(err)
	}
	switch {
	case fs.NArg() > 0:
		return c, usage(fmt.Errorf("unexpected arguments %q", fs.Args()))
	case c.mode != "main" && c.mode != "test":
		return c, usage(fmt.Errorf("-mode %q: want main or test", c.mode))
	case c.workers < 1:
		return c, usage(fmt.Errorf("-workers %d: want at least 1", c.workers))
	case c.workers > maxWorkers:
		return c, usage(fmt.Errorf("-workers %d: want at most %d (%s)", c.workers, maxWorkers, workersWhy))
	case c.jobs < 1 || c.jobs > c.workers:
		return c, usage(fmt.Errorf("-jobs %d: want 1 to -workers (%d)", c.jobs, c.workers))
	case c.duration < 0, c.timeout < 0, c.stillAlive < 0, c.shutdownTimeout < 0:
		return c, usage(errors.New("durations may not be negative"))
	case !(c.unit > 0):
		return c, usage(fmt.Errorf("-time-scale %v: want a positive number", c.unit))
	case c.startConcurrency < 1:
		return c, usage(fmt.Errorf("-start-concurrency %d: want at least 1", c.startConcurrency))
	case c.scale < 0:
		return c, usage(fmt.Errorf("-scale %d: want a positive number of workers", c.scale))
	case c.scaleMessages < 0:
		return c, usage(fmt.Errorf("-scale-messages %d: want 0 (1000 per worker) or more", c.scaleMessages))
	case c.tasks < 0:
		return c, usage(fmt.Errorf("-tasks %d: want 0 (no limit) or more", c.tasks))
	case c.recycle < 0:
		return c, usage(fmt.Errorf("-tasks-per-worker %d: want 0 (never) or more", c.recycle))
	case c.fault != "" && c.fault != "crash" && c.fault != "hang":
		return c, usage(fmt.Errorf("-fault %q: want crash or hang", c.fault))
	}
	return c, nil
}

// floorChildFlag makes the process one of -scale's floor (floor.go): main1
// starts those itself, so the flag works but the usage leaves it out.
const floorChildFlag = "scale-floor-child"

// public returns the flags of fs a reader may use, with their defaults: all
// but floorChildFlag.
func public(fs *flag.FlagSet) *flag.FlagSet {
	p := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != floorChildFlag {
			p.Var(f.Value, f.Name, f.Usage)
			p.Lookup(f.Name).DefValue = f.DefValue // the default, not a value parsed since
		}
	})
	return p
}

// maxWorkers bounds -workers, and workersWhy says why.
const (
	maxWorkers = 5000
	workersWhy = "each worker is a process: about 0.7 MiB and 5 of the frontend's descriptors apiece"
)
