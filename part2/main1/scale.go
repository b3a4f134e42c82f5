package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// burst asks a worker to send n small messages as fast as it can: -scale
// measures the manager's fan-in with it.
var burst = mp.NewCommand[int, struct{}]("burst")

func (w *worker) burst(ctx context.Context, n int) (struct{}, error) {
	for range n {
		if err := w.Send(ctx, "tick", nil); err != nil {
			return struct{}{}, err
		}
	}
	return struct{}{}, nil
}

func init() { mp.HandleCommand(workers, burst, (*worker).burst) }

// messagesPerWorker is the size of each worker's burst in -scale mode,
// unless -scale-messages asks for a total.
const messagesPerWorker = 1000

// burstSize is each worker's burst: -scale-messages spread over the n
// workers (rounded up), else messagesPerWorker. A total fixed for every n
// keeps the fan-in's measurement as long with 100 workers as with 1,000
// (1,000 each is 0.1 s of messages at 100 workers and 1 M messages/s).
func burstSize(total, n int) int {
	if total <= 0 {
		return messagesPerWorker
	}
	return max(1, (total+n-1)/n)
}

// askBursts sends each worker of ws its burst, until one fails: that
// error is logged and the run stopped. Once ctx has ended (that stop, or
// Ctrl-C) no worker is asked: a Send with an ended ctx sends nothing and
// fails, and every worker left would log the same error.
func askBursts[W any](ctx context.Context, ws []W, send func(context.Context, W) error, log *slog.Logger, stop func()) {
	for _, w := range ws {
		if ctx.Err() != nil {
			return
		}
		if err := send(ctx, w); err != nil {
			log.Error(err.Error())
			stop()
			return
		}
	}
}

// runScale starts cfg.scale workers, waits until every one is ready, reads
// their memory, has each send a burst of messages through the manager's
// loop, stops them, and measures the floor: each phase prints its line as
// it ends (see meter).
func runScale(ctx context.Context, cfg config, log *slog.Logger) error {
	n := cfg.scale
	each := burstSize(cfg.scaleMessages, n)
	out := newMeter()
	parent := ctx // Ctrl-C: no floor
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		begin                         = time.Now()
		allReady, burstStart, stopped time.Time
		ready, received               int
	)
	// The stop begins when the run's context ends: after the fan-in, or
	// on Ctrl-C. stop notes the moment before it cancels, so the fan-in's
	// end is taken on the manager's loop, before Run can return. (Taken in
	// an AfterFunc of ctx, it came from a goroutine that a loaded machine
	// could run after Run had returned: "all stopped: 0.000 s".)
	var (
		stopOnce sync.Once
		stopAt   time.Time
	)
	stop := func() {
		stopOnce.Do(func() { stopAt = time.Now() })
		cancel()
	}
	// Ctrl-C: no earlier moment can be had than the parent's AfterFunc,
	// which may also run late; the stop is then measured from it, or from
	// Run's end (0 s) if Run ended first.
	defer context.AfterFunc(parent, stop)()
	out.line("workers:       %d (started %d at a time)", n, cfg.startConcurrency)
	var m *manager.Manager
	m, err := manager.New(manager.Config{
		Workers:          n,
		StartConcurrency: cfg.startConcurrency,
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return workers.Start(ctx, mp.Options{Name: w.Name(), Env: workerEnv})
		},
		OnReady: func(w *manager.Worker) {
			if ready++; ready < n {
				out.progress("starting:      %d/%d workers ready", ready, n)
				return
			}
			allReady = time.Now()
			out.line("all ready:     %.4f s", allReady.Sub(begin).Seconds())
			printPSS(out, m, n)
			burstStart = time.Now()
			askBursts(ctx, m.Workers(), func(ctx context.Context, w *manager.Worker) error {
				return burst.Send(ctx, w.Process(), each)
			}, log, stop)
		},
		OnMessage: func(w *manager.Worker, msg mp.Message) {
			if received++; received%4096 == 0 {
				out.progress("fan-in:        %d/%d messages", received, n*each)
			}
			if received == n*each {
				took := time.Since(burstStart)
				out.line("fan-in:        %d messages in %.2f s: %.0f messages/s", received, took.Seconds(), float64(received)/took.Seconds())
				stop()
			}
		},
		StillAlive: -1,
		Log:        log,
		Progress:   io.Discard, // the meter draws its own, through every phase
	})
	if err != nil {
		return err
	}
	watching := make(chan struct{})
	if out.tty {
		go watchStops(ctx, out, m, watching)
	} else {
		close(watching)
	}
	runErr := m.Run(ctx)
	stop() // if Run ended on its own: the watcher waits for it (and the stop took 0 s)
	stopped = time.Now()
	<-watching
	stopTook := stopped.Sub(stopAt) // stopAt: written by the first stop(), which the one above waited for
	out.line("all stopped:   %.4f s", stopTook.Seconds())
	if runErr != nil || parent.Err() != nil {
		return runErr
	}
	// The floor, in the same run: as many plain processes of this binary,
	// started with os/exec as many at a time, each writing one byte when it
	// runs and exiting at the end of its stdin. What mp adds is the rest.
	floorReady, floorStopped, err := scaleFloor(n, cfg.startConcurrency, out)
	if err != nil {
		return fmt.Errorf("the floor: %w", err)
	}
	out.line("floor:         all ready %.4f s, all stopped %.4f s (%d plain processes, %d at a time)",
		floorReady.Seconds(), floorStopped.Seconds(), n, cfg.startConcurrency)
	out.line("ratios:        ready %.2f x the floor, stopped %.2f x",
		allReady.Sub(begin).Seconds()/floorReady.Seconds(), stopTook.Seconds()/floorStopped.Seconds())
	return nil
}

// printPSS prints the workers' memory, all idle and ready.
func printPSS(out *meter, m *manager.Manager, n int) {
	pss, err := workersPSS(m)
	if err != nil {
		out.line("PSS:           unknown (%v)", err)
		return
	}
	out.line("PSS:           %.1f MiB in all, %.2f MiB per idle worker", mib(pss), mib(pss)/float64(n))
}

// watchStops draws the stopping phase's progress line, once ctx has ended,
// until every worker's process has exited; it closes done when it returns.
func watchStops(ctx context.Context, out *meter, m *manager.Manager, done chan<- struct{}) {
	defer close(done)
	<-ctx.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		exited := 0
		for _, w := range m.Workers() {
			if p := w.Process(); p == nil {
				exited++
			} else {
				select {
				case <-p.Done():
					exited++
				default:
				}
			}
		}
		if exited == len(m.Workers()) {
			return
		}
		out.progress("stopping:      %d/%d workers stopped", exited, len(m.Workers()))
	}
}

// workersPSS sums the proportional set size of the workers' processes:
// each one's private memory plus its share of what they share (the binary's
// pages), from the Pss line of /proc/<pid>/smaps_rollup. (A few lines of
// our own rather than github.com/prometheus/procfs: that library imports
// net, which links the C library into every binary that uses it, and the
// workers are this binary: measured, it added 0.5 MiB to each worker's
// PSS and a dynamic loader to each start.)
func workersPSS(m *manager.Manager) (uint64, error) {
	var total uint64
	for _, w := range m.Workers() {
		kb, err := pssKiB(w.Process().Pid())
		if err != nil {
			return 0, err
		}
		total += kb << 10
	}
	return total, nil
}

// pssKiB reads the Pss line of /proc/<pid>/smaps_rollup, in KiB.
func pssKiB(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no Pss line in /proc/%d/smaps_rollup", pid)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
