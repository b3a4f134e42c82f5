// Command pool runs tasks on a pool of worker processes with mp/manager:
// three workers square the numbers 1 to 8, one typed call per task; the
// manager hands each task to an idle worker, gathers the results on its
// loop, and stops the workers once the last task is done.
//
//	go run ./examples/pool
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// square is the one command: a number in, its square out.
var square = mp.NewCommand[int, int]("square")

// worker is the backend; it has no state of its own.
type worker struct{ *mp.Backend }

func (w *worker) square(ctx context.Context, n int) (int, error) { return n * n, nil }

var squarers = mp.NewKind("Squarer", func(b *mp.Backend) *worker { return &worker{b} })

func init() { mp.HandleCommand(squarers, square, (*worker).square) }

func main() {
	mp.Init() // a worker runs its loop here and never returns

	// The command line, with the flag package: -h prints the usage and
	// exits 0; an unknown flag, or any argument, exits 2 before anything
	// has started.
	flag.Usage = func() { fmt.Fprintln(flag.CommandLine.Output(), "usage: pool") }
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "pool: unexpected arguments %q: pool takes no arguments\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Stdout, 3, 8)
	if ctx.Err() != nil {
		// Ctrl-C or SIGTERM: run has stopped the workers, and the tasks
		// it had not done (mp.ErrStopped) are no failure. Exit as a
		// shell reports the signal: 130 for SIGINT, 143 for SIGTERM.
		cause := context.Cause(ctx)
		fmt.Fprintln(os.Stderr, "pool:", cause)
		if strings.HasPrefix(cause.Error(), syscall.SIGTERM.String()) {
			os.Exit(128 + int(syscall.SIGTERM))
		}
		os.Exit(128 + int(syscall.SIGINT))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pool:", err)
		os.Exit(1)
	}
}

// run squares 1 to tasks on a pool of n workers and prints each result, in
// order, and their sum.
func run(ctx context.Context, out io.Writer, n, tasks int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m, err := manager.New(manager.Config{
		Workers: n,
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return squarers.Start(ctx, mp.Options{Name: w.Name()})
		},
		// The manager's own lines (starting, stopping) only when
		// something goes wrong.
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	results := make([]int, tasks)
	left := tasks
	var failed error
	for i := range tasks {
		err := m.Submit(manager.Task{
			Name: fmt.Sprintf("square-%d", i+1),
			// Do runs on a goroutine of its own, with an idle worker.
			Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
				r, err := square.Call(ctx, p, i+1)
				results[i] = r
				return err
			},
			// Done runs on the manager's loop, one at a time: no lock.
			Done: func(w *manager.Worker, err error) {
				if err != nil && failed == nil {
					failed = err
				}
				if left--; left == 0 {
					cancel() // the last one: stop the workers
				}
			},
		})
		if err != nil {
			return err
		}
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	if failed != nil {
		return failed // a task still queued at a stop fails with mp.ErrStopped
	}
	sum := 0
	for i, r := range results {
		fmt.Fprintf(out, "%d squared is %d\n", i+1, r)
		sum += r
	}
	fmt.Fprintf(out, "sum %d, on %d workers\n", sum, n)
	return nil
}
