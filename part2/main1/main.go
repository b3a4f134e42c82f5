// Chapter 6, main1: a manager and its workers.
//
// Part I managed one backend. A real program runs many: a manager starts N
// worker processes, each owning a shared array, keeps the idle ones in a
// pool, and hands out work. Every message, every finished task and every
// exit of every worker reaches the manager through one loop, so nothing
// waits forever on a worker that died, and Ctrl-C stops everything, leaving
// nothing behind.
//
// Run it with: go run ./part2/main1 (stop it with Ctrl-C), or
// go run ./part2/main1 -mode test for a ten-second run.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
	"github.com/mpgo/mp/mp/shm"
)

// The work a worker does, and what it reports when it is done: typed
// values, checked by the compiler on both sides of the pipe.
type Work struct {
	Task    int
	Value   float64 // fill the array with this
	Seconds float64 // and take this long
	Recycle int     // if > 0: end the worker after this many tasks
}

// Ready is the worker's report that a task is done: the reply to "work".
type Ready struct {
	Task  int
	Value float64
}

var work = mp.NewCommand[Work, Ready]("work")

// worker is the backend: it owns one shared array, made by the manager.
type worker struct {
	*mp.Backend
	array *shm.Array[float64]
	fault string
	done  int // tasks done by this process
}

// PreRun maps the worker's array before the first task arrives.
func (w *worker) PreRun(ctx context.Context) error {
	w.fault, _ = w.Params().String("fault")
	name, err := w.Params().String("array")
	if err != nil {
		return nil // -scale runs workers without arrays
	}
	w.array, err = shm.Open[float64](name, arrayLen)
	return err
}

// PostRun unmaps it; the manager, which made it, unlinks it.
func (w *worker) PostRun() error {
	if w.array == nil {
		return nil
	}
	return w.array.Close()
}

// doWork fills the array, then takes its time. The context ends when the
// manager stops the worker (SIGTERM): a task is not a reason to linger.
func (w *worker) doWork(ctx context.Context, req Work) (Ready, error) {
	if err := w.array.Fill(req.Value); err != nil {
		return Ready{}, err
	}
	//docs:skip
	switch w.fault { // faults the tests inject; see the fault flag
	case "crash":
		panic("injected crash")
	case "hang":
		w.Log().Info(fmt.Sprintf("task %d: hanging, deaf to SIGTERM", req.Task))
		select {} // never answers, deaf to SIGTERM: only SIGKILL ends it
	}
	//docs:end
	select {
	case <-time.After(time.Duration(req.Seconds * float64(time.Second))):
	case <-ctx.Done():
		return Ready{}, ctx.Err()
	}
	// A worker that recycles itself ends after its last task. Stop tells
	// the manager before the reply goes out, so the manager never hands
	// the next task to a process on its way out, and replaces it.
	if w.done++; req.Recycle > 0 && w.done >= req.Recycle {
		w.Stop()
	}
	return Ready{Task: req.Task, Value: req.Value}, nil
}

var workers = mp.NewKind("Worker", func(b *mp.Backend) *worker { return &worker{Backend: b} })

func init() { mp.HandleCommand(workers, work, (*worker).doWork) }

// arrayLen is the length of each worker's array.
const arrayLen = 1000

// workerEnv is added to each worker's environment. A worker handles one
// task at a time, so one P (the Go runtime's share of CPUs for running
// goroutines) is all it needs, and each P costs memory: with one, an idle
// worker's PSS falls from 0.81 to 0.67 MiB.
var workerEnv = []string{"GOMAXPROCS=1"}

func main() {
	mp.Init()
	cfg, err := parseFlags(os.Args[1:])
	story.ExitOnFlagError(err) // -h: status 0; a usage error: 2, nothing started
	log := mplog.New("main", mplog.Front)
	// Ctrl-C (or SIGTERM) reaches the manager only: the workers leave it
	// to the manager, which stops them all. A second Ctrl-C does not wait
	// for them: it kills them.
	ctx, force, stop := manager.Signals(context.Background())
	defer stop()
	// A pipe that closes (main1 | head) ends the run as cleanly.
	ctx, stopWatching := story.UntilStdoutCloses(ctx)
	defer stopWatching()
	//docs:skip
	if cfg.floorChild {
		floorChild() // a process of -scale's floor
		return
	}
	//docs:end
	if cfg.scale > 0 {
		err = runScale(ctx, cfg, log)
	} else {
		err = run(ctx, force, cfg, log)
	}
	if err != nil || ctx.Err() != nil {
		story.Exit(ctx, log, err) // 1 on an error; 130 after Ctrl-C, 143 after SIGTERM
	}
	log.Info("bye")
}

func run(ctx context.Context, force <-chan struct{}, cfg config, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The manager creates every worker's array before the worker starts,
	// and unlinks them all when it is done, whatever happened meanwhile.
	arrays := make([]*shm.Array[float64], cfg.workers)
	defer func() {
		for _, a := range arrays {
			if a != nil {
				a.Close()
				a.Unlink()
			}
		}
	}()
	for i := range arrays {
		a, err := shm.Create[float64](fmt.Sprintf("worker-%d", i+1), arrayLen)
		if err != nil {
			return err
		}
		arrays[i] = a
	}

	rng := rand.New(rand.NewPCG(cfg.seed, 0))
	var m *manager.Manager
	started, tasks, done := 0, 0, 0
	// submit queues the next task, which starts when the task that ended
	// at start (in seconds from the first) ends. Work times are whole
	// units; a chain of tasks started as the j-th initial job keeps an
	// offset of j/jobs of a unit, so that no two tasks ever end at the
	// same moment.
	//docs:skip
	// In test mode without a timeout, a task that is done waits for its
	// turn (turns.go): the tasks end in the order of their planned ends,
	// and the output is the same on every run, however loaded the machine.
	turn := newTurns(cfg.mode == "test" && cfg.timeout == 0)
	//docs:end
	var submit func(start, offset float64)
	submit = func(start, offset float64) {
		if turn.on && cfg.tasks > 0 && tasks == cfg.tasks { //docs:skip
			return // -tasks: none in flight when the last is done, none cancelled //docs:skip
		} //docs:skip
		tasks++
		req := Work{Task: tasks, Value: float64(rng.IntN(1000)) / 1000, Seconds: (float64(1+rng.IntN(4)) + offset) * cfg.unit, Recycle: cfg.recycle}
		end := start + req.Seconds
		var reply Ready
		// Submit fails only once the manager is stopping: then there is
		// nothing more to do.
		turn.add(req.Task, end) //docs:skip
		_ = m.Submit(manager.Task{
			Name:    fmt.Sprintf("task-%d", req.Task),
			Timeout: cfg.timeout,
			Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) (err error) {
				reply, err = work.Call(ctx, p, req)
				if err == nil { //docs:skip
					err = turn.wait(ctx, req.Task) //docs:skip
				} //docs:skip
				return err
			},
			// Done runs on the manager's loop: print what the worker
			// left in its array, and give the next task to the next
			// idle worker.
			Done: func(w *manager.Worker, err error) {
				defer turn.done(req.Task) // after the next task's submit //docs:skip
				if errors.Is(err, mp.ErrStopped) {
					return
				}
				if err != nil {
					log.Warn(fmt.Sprintf("task %d failed: %v", req.Task, err))
				} else {
					first := arrays[w.Index()].Data()[:3]
					done++
					log.Info(fmt.Sprintf("%s ready: task %d filled its array with %.3f: %.3f", w.Name(), reply.Task, reply.Value, first))
					if cfg.mode == "test" && done == cfg.tasks { //docs:skip
						cancel() // -tasks: the run ends here, whatever the clock says //docs:skip
						return   //docs:skip
					} //docs:skip
				}
				submit(end, 0)
			},
		})
	}

	m, err := manager.New(manager.Config{
		Workers:          cfg.workers,
		StartConcurrency: cfg.startConcurrency,
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return workers.Start(ctx, mp.Options{
				Name:   w.Name(),
				Params: mp.Params{"array": arrays[w.Index()].Name(), "fault": cfg.fault},
				Env:    workerEnv,
			})
		},
		// When every worker is ready, the first jobs go out (a worker
		// that restarts later is ready again, and simply joins the idle
		// pool). In test mode
		// the clock starts then: the manager runs for a fixed time and
		// stops, exactly as after a Ctrl-C.
		OnReady: func(w *manager.Worker) {
			if started++; started != cfg.workers {
				return
			}
			log.Info(fmt.Sprintf("all %d workers ready; giving work to %d of them", cfg.workers, cfg.jobs))
			for j := range cfg.jobs {
				submit(0, float64(j)/float64(cfg.jobs))
			}
			if cfg.mode == "test" {
				time.AfterFunc(cfg.duration, cancel)
			}
		},
		// A crash (or a failed restart) is a failure; more than three
		// within five seconds stop everything. A worker that recycles
		// itself, or that the manager stopped after a timeout, did not
		// fail: it is replaced without counting.
		MaxRestarts:     3,
		StillAlive:      cfg.stillAlive,
		ShutdownTimeout: cfg.shutdownTimeout,
		Force:           force,
		Log:             log,
	})
	if err != nil {
		return err
	}
	// The workers are the frontend's children: its PID tells them from
	// every other run's.
	log.Info(fmt.Sprintf("starting %d workers under frontend pid %d", cfg.workers, os.Getpid()))
	err = m.Run(ctx)
	log.Info(fmt.Sprintf("all workers stopped; %d tasks done", done))
	return err
}
