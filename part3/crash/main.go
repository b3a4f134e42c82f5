// Chapter 7, crash: what a crash leaves behind, and who cleans it up.
//
// The frontend creates a named shared array and starts workers that map
// it. Run normally, it stops them and unlinks the segment. Run with -kill,
// it kills itself with SIGKILL halfway: no deferred call runs. The workers
// die with it all the same (the kernel's parent-death signal, and the end
// of their command pipe), but the segment's name in /dev/shm outlives
// everybody, until aux/cleanup.bash finds it stale and removes it.
//
// Run it with: go run ./part3/crash -kill; then: bash aux/cleanup.bash
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/shm"
)

// worker is the backend: it maps the frontend's array and fills its row.
type worker struct {
	*mp.Backend
	results *shm.Array[float64]
}

// PreRun opens the segment by the name the frontend sent. While it has it
// open, the worker holds a shared lock on it, and its mapping shows in
// /proc/<pid>/maps: either tells aux/cleanup.bash that the segment is in
// use.
func (w *worker) PreRun(ctx context.Context) error {
	p := w.Params()
	name, err := p.String("results")
	if err != nil {
		return err
	}
	rows, err := p.Int("rows")
	if err != nil {
		return err
	}
	w.results, err = shm.Open[float64](name, rows, columns)
	if err != nil {
		return err
	}
	w.Log().Info("pre-run: mapped " + name)
	return nil
}

// PostRun unmaps; a worker never unlinks what it did not create.
func (w *worker) PostRun() error {
	if w.results == nil {
		return nil
	}
	return w.results.Close()
}

// fill writes the worker's number into its row of the array.
func (w *worker) fill(ctx context.Context, m mp.Message) error {
	row, err := m.Params.Int("row")
	if err != nil {
		return err
	}
	data := w.results.Data()
	for i := range columns {
		data[w.results.Index(row, i)] = float64(row + 1)
	}
	w.Log().Info(fmt.Sprintf("filled row %d", row))
	return nil
}

// columns is the width of the results array: one row per worker.
const columns = 4

// maxWorkers bounds -workers.
const maxWorkers = 64

var workerKind = mp.NewKind("Worker", func(b *mp.Backend) *worker { return &worker{Backend: b} }).
	Handle("fill", (*worker).fill)

func main() {
	mp.Init()
	kill := flag.Bool("kill", false, "kill the frontend with SIGKILL once the workers run")
	workers := flag.Int("workers", 2, fmt.Sprintf("number of workers, 1 to %d", maxWorkers))
	story.ParseFlags("part3/crash")
	if *workers < 1 || *workers > maxWorkers {
		story.Usage(fmt.Errorf("bad -workers %d: want 1 to %d (each worker is a process, and one is enough to crash)", *workers, maxWorkers))
	}
	log := mplog.New("main", mplog.Front)
	// Ctrl-C and SIGTERM end run through its deferred clean-up; SIGKILL,
	// which -kill sends, cannot be caught: that is the point.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *workers, *kill); err != nil || ctx.Err() != nil {
		story.Exit(ctx, log, err)
	}
	log.Info("workers stopped, segment unlinked, bye")
}

func run(ctx context.Context, log *slog.Logger, workers int, kill bool) error {
	// A named segment: a file in /dev/shm, <prefix><our pid>-results. Its
	// name is what lets a worker, or anybody, open it; it is also why it
	// can outlive us. We hold a lock on it while we live, but only this
	// deferred Unlink removes the name, and a process killed with SIGKILL
	// runs no deferred call.
	//
	// An anonymous array (shm.CreateAnon, a memfd handed to the workers as
	// a file) would leave nothing behind even then: it has no name, and the
	// kernel frees its memory when the last process holding its file or a
	// mapping of it is gone. A name is the price of letting processes that
	// we did not start find the memory.
	results, err := shm.Create[float64]("results", workers, columns)
	if err != nil {
		return err
	}
	defer results.Unlink()
	defer results.Close()
	log.Info("created shared array " + results.Name())

	// Each worker maps the array before Start returns, then fills its row.
	var procs []*mp.Process
	defer func() {
		for _, p := range procs {
			p.Close()
		}
	}()
	for i := range workers {
		p, err := workerKind.Start(ctx, mp.Options{
			Name:   fmt.Sprintf("worker-%d", i+1),
			Params: mp.Params{"results": results.Name(), "rows": workers},
		})
		if err != nil {
			return err
		}
		procs = append(procs, p)
		if _, err := p.Call(ctx, "fill", mp.Params{"row": i}); err != nil {
			return err
		}
	}
	sum, err := results.Sum()
	if err != nil {
		return err
	}
	log.Info(fmt.Sprintf("the workers filled their rows: sum %.0f", sum))
	if err := story.Pause(ctx, time.Second); err != nil {
		return err
	}

	if kill {
		// The crash. Nothing after this line runs, deferred calls included:
		// the workers are not stopped and the segment is not unlinked. The
		// kernel still ends the workers, because they asked for a signal
		// when their parent dies; their locks and mappings go with them,
		// and so does ours.
		log.Warn("-kill: killing the frontend with SIGKILL; the segment stays: run aux/cleanup.bash")
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL cannot be caught: we never get here
	}

	// The normal end: stop the workers first (they unmap), then the
	// deferred Close and Unlink remove the segment.
	for _, p := range procs {
		if err := p.Close(); err != nil {
			return err
		}
	}
	return nil
}
