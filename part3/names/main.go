// Chapter 8, names: processes you can find by name, and their memory.
//
// Every backend carries its name twice: in argv[0], "mp:<program>/<name>",
// which ps, htop and smem show as the command line, and in its thread name
// (comm), "mp:<name>", which ps -o comm and htop's thread names show. This
// chapter starts a few named workers that hold some memory (a table they
// all share, and a private buffer each, of different sizes) and idles until
// Ctrl-C or SIGTERM, so that there is something to look at.
//
// Run it with: go run ./part3/names   (and, in another terminal:
// bash aux/memwatch.bash)
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

// The shared table: 4 MiB of float64 that every worker maps.
const tableRows, tableColumns = 512, 1024

// maxWorkers bounds -workers: worker k holds k MiB of its own, so the
// private memory grows with the square of their number.
const maxWorkers = 16

// worker is the backend: it maps the shared table and keeps a private
// buffer, and then does nothing; its memory is the point.
type worker struct {
	*mp.Backend
	table   *shm.Array[float64]
	private []byte
}

// PreRun maps the table and touches every page of both: memory that was
// never touched is not resident, and would show as nothing.
func (w *worker) PreRun(ctx context.Context) error {
	mib, err := w.Params().Int("private_mib")
	if err != nil {
		return err
	}
	w.table, err = shm.OpenFile[float64](w.File(0), tableRows, tableColumns)
	if err != nil {
		return err
	}
	sum, err := w.table.Sum()
	if err != nil {
		return err
	}
	w.private = make([]byte, mib<<20)
	for i := 0; i < len(w.private); i += os.Getpagesize() {
		w.private[i] = 1
	}
	w.Log().Info(fmt.Sprintf("pre-run: mapped the shared table (sum %.0f), holding %d MiB of my own", sum, mib))
	return nil
}

// PostRun unmaps the table.
func (w *worker) PostRun() error {
	if w.table == nil {
		return nil
	}
	return w.table.Close()
}

var workerKind = mp.NewKind("Worker", func(b *mp.Backend) *worker { return &worker{Backend: b} })

func main() {
	mp.Init()
	workers := flag.Int("workers", 3, fmt.Sprintf("number of workers, 1 to %d", maxWorkers))
	runFor := flag.Duration("for", 0, "end on its own after this long (0: run until Ctrl-C or SIGTERM, or end at once when MP_FAST is set)")
	story.ParseFlags("part3/names")
	switch {
	case *workers < 1 || *workers > maxWorkers:
		story.Usage(fmt.Errorf("bad -workers %d: want 1 to %d (worker k holds k MiB of its own: %d of them hold %d MiB)", *workers, maxWorkers, maxWorkers, maxWorkers*(maxWorkers+1)/2))
	case *runFor < 0:
		story.Usage(fmt.Errorf("bad -for %v: want a duration of 0 or more", *runFor))
	}
	log := mplog.New("main", mplog.Front)
	// Ctrl-C or SIGTERM ends the wait in run; the deferred stops then run,
	// and the exit status says which signal it was (130, 143).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// So does a pipe that closes (names | head): nobody reads any more.
	ctx, stopWatching := story.UntilStdoutCloses(ctx)
	defer stopWatching()
	if err := run(ctx, log, *workers, *runFor); err != nil || ctx.Err() != nil {
		story.Exit(ctx, log, err)
	}
	log.Info("bye")
}

func run(ctx context.Context, log *slog.Logger, workers int, runFor time.Duration) error {
	// An anonymous table (a memfd): it leaves nothing in /dev/shm, and still
	// shows in every mapper's memory as shared memory (SHMEM in memwatch).
	table, err := shm.CreateAnon[float64]("table", tableRows, tableColumns)
	if err != nil {
		return err
	}
	defer table.Close()
	if err := table.Fill(1.0); err != nil {
		return err
	}

	// The name given here is the one ps shows: mp:names/worker-1, and
	// mp:worker-1 as the thread name. Worker i keeps i MiB of its own, so
	// that their private memory (USS) differs.
	var procs []*mp.Process
	defer func() {
		for _, p := range procs {
			p.Close()
		}
	}()
	for i := 1; i <= workers; i++ {
		p, err := workerKind.Start(ctx, mp.Options{
			Name:   fmt.Sprintf("worker-%d", i),
			Params: mp.Params{"private_mib": i},
			Files:  []*os.File{table.File()},
		})
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}

	me := os.Getpid()
	log.Info(fmt.Sprintf("%d workers run under frontend pid %d; look at them from another terminal:", workers, me))
	log.Info(fmt.Sprintf("  ps -o pid,comm,args --ppid %d", me))
	log.Info(fmt.Sprintf("  bash aux/memwatch.bash --frontend %d", me))
	log.Info("  htop -t -F mp:   (set-up: docs/debugging.md)")
	log.Info("  smem -t -k -P '^mp:'")

	// Idle until told to stop: a signal, -for, or MP_FAST.
	switch {
	case runFor > 0:
		idle, stop := context.WithTimeout(ctx, runFor)
		defer stop()
		<-idle.Done()
	case story.Fast():
		log.Info("MP_FAST is set: not waiting")
	default:
		log.Info("Ctrl-C ends it")
		<-ctx.Done()
	}

	log.Info("stopping the workers")
	for _, p := range procs {
		if err := p.Close(); err != nil {
			return err
		}
	}
	return nil
}
