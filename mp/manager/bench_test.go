package manager_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// BenchmarkSpawn measures a manager's whole life with n workers: start them
// all, each ready, stop them all. ns/op is one life; workers/s is n over it.
//
//	go test -run '^$' -bench Spawn -benchtime 20x ./mp/manager
func BenchmarkSpawn(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			for b.Loop() {
				cfg, _ := config(n)
				ctx, cancel := context.WithCancel(context.Background())
				ready := 0
				cfg.OnReady = func(*manager.Worker) {
					if ready++; ready == n {
						cancel()
					}
				}
				m, err := manager.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Run(ctx); err != nil {
					b.Fatal(err)
				}
				if ready != n {
					b.Fatalf("%d of %d workers were ready", ready, n)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "workers/s")
		})
	}
}

// BenchmarkFanIn measures the manager's loop receiving the messages of 100
// workers, each sending small messages (a command and no parameters) as
// fast as it can. msgs/s counts messages handed to OnMessage.
//
// The floors, in the same run: floor-100, the same 100 processes' worth of
// 16-byte frames written one write(2) each into 100 raw pipes and drained
// by one reader through epoll, no library in between (what the kernel
// allows); and direct-1, one worker's messages read straight from its
// Process.Messages channel, without the manager (what the message path of
// mp gives one reader).
//
//	go test -run '^$' -bench FanIn -benchtime 5x ./mp/manager
func BenchmarkFanIn(b *testing.B) {
	const perWorker = 10000
	// The whole of it is fanInWith (extrasources_bench_test.go), which
	// can also attach the extrafd chapter's sources.
	b.Run("workers=100", func(b *testing.B) { fanInWith(b, false) })
	b.Run("floor-100", func(b *testing.B) { fanInFloor(b, 100, perWorker) })
	b.Run("direct-1", func(b *testing.B) {
		p, err := testWorkers.Start(context.Background(), mp.Options{Name: "direct"})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		for b.Loop() {
			if err := burst.Send(context.Background(), p, perWorker); err != nil {
				b.Fatal(err)
			}
			for range perWorker {
				<-p.Messages()
			}
		}
		b.ReportMetric(float64(perWorker)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkTasks measures small tasks through the manager: each task a
// typed Call that returns at once, handed to the next idle worker, with n
// workers. tasks/s counts tasks whose Done ran.
//
//	go test -run '^$' -bench Tasks -benchtime 3x ./mp/manager
func BenchmarkTasks(b *testing.B) {
	const batch = 2000
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			cfg, _ := config(n)
			m, _, stop := runReady(b, cfg, nil)
			ended := make(chan struct{}, batch)
			task := manager.Task{
				Name: "nop",
				Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
					_, err := doJob.Call(ctx, p, job{})
					return err
				},
				Done: func(w *manager.Worker, err error) {
					if err != nil {
						b.Error(err)
					}
					ended <- struct{}{}
				},
			}
			for b.Loop() {
				for range batch {
					m.Submit(task)
				}
				for range batch {
					<-ended
				}
			}
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
			b.StopTimer()
			stop()
		})
	}
}

// runReady runs a manager of cfg until every worker is ready; before, if
// not nil, runs first (to attach sources to the loop). It returns the
// manager, the ctx of its run, and a function that stops it and fails the
// benchmark if Run failed.
func runReady(b *testing.B, cfg manager.Config, before func(ctx context.Context, m *manager.Manager)) (*manager.Manager, context.Context, func()) {
	readyAll := make(chan struct{})
	ready := 0
	cfg.OnReady = func(*manager.Worker) {
		if ready++; ready == cfg.Workers {
			close(readyAll)
		}
	}
	m, err := manager.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if before != nil {
		before(ctx, m)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	<-readyAll
	return m, ctx, func() {
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
