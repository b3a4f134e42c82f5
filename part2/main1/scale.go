package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
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

// messagesPerWorker is the size of each worker's burst in -scale mode.
const messagesPerWorker = 1000

// runScale starts cfg.scale workers, waits until every one is ready, has
// each send a burst of messages through the manager's loop, reads their
// memory, stops them, and prints the figures.
func runScale(ctx context.Context, cfg config, log *slog.Logger) error {
	n := cfg.scale
	parent := ctx // Ctrl-C: no floor
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		begin                = time.Now()
		allReady, burstStart time.Time
		burstTook            time.Duration
		ready, received      int
		pss                  uint64
		pssErr               error
	)
	var m *manager.Manager
	m, err := manager.New(manager.Config{
		Workers:          n,
		StartConcurrency: cfg.startConcurrency,
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return workers.Start(ctx, mp.Options{Name: w.Name(), Env: workerEnv})
		},
		OnReady: func(w *manager.Worker) {
			if ready++; ready < n {
				return
			}
			allReady = time.Now()
			pss, pssErr = workersPSS(m)
			burstStart = time.Now()
			for _, w := range m.Workers() {
				if err := burst.Send(ctx, w.Process(), messagesPerWorker); err != nil {
					log.Error(err.Error())
					cancel()
				}
			}
		},
		OnMessage: func(w *manager.Worker, msg mp.Message) {
			if received++; received == n*messagesPerWorker {
				burstTook = time.Since(burstStart)
				cancel()
			}
		},
		StillAlive: -1,
		Log:        log,
	})
	if err != nil {
		return err
	}
	runErr := m.Run(ctx)
	stopped := time.Now()
	fmt.Printf("workers:       %d (started %d at a time)\n", n, cfg.startConcurrency)
	fmt.Printf("all ready:     %.3f s\n", allReady.Sub(begin).Seconds())
	if burstTook > 0 {
		fmt.Printf("fan-in:        %d messages in %.2f s: %.0f messages/s\n", received, burstTook.Seconds(), float64(received)/burstTook.Seconds())
	}
	if pssErr != nil {
		fmt.Printf("PSS:           unknown (%v)\n", pssErr)
	} else {
		fmt.Printf("PSS:           %.1f MiB in all, %.2f MiB per idle worker\n", mib(pss), mib(pss)/float64(n))
	}
	stopTook := stopped.Sub(allReady.Add(burstTook))
	fmt.Printf("all stopped:   %.3f s\n", stopTook.Seconds())
	if runErr != nil || parent.Err() != nil {
		return runErr
	}
	// The floor, in the same run: as many plain processes of this binary,
	// started with os/exec as many at a time, each writing one byte when it
	// runs and exiting at the end of its stdin. What mp adds is the rest.
	floorReady, floorStopped, err := scaleFloor(n, cfg.startConcurrency)
	if err != nil {
		return fmt.Errorf("the floor: %w", err)
	}
	fmt.Printf("floor:         all ready %.3f s, all stopped %.3f s (%d plain processes, %d at a time)\n",
		floorReady.Seconds(), floorStopped.Seconds(), n, cfg.startConcurrency)
	fmt.Printf("ratios:        ready %.2f x the floor, stopped %.2f x\n",
		allReady.Sub(begin).Seconds()/floorReady.Seconds(), stopTook.Seconds()/floorStopped.Seconds())
	return nil
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
