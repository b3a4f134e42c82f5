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
	b.Run("workers=100", func(b *testing.B) {
		const n = 100
		cfg, _ := config(n)
		// One P per worker, as main1's workers run: a worker handles one
		// command at a time.
		cfg.Start = func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return testWorkers.Start(ctx, mp.Options{Name: w.Name(), Env: []string{"GOMAXPROCS=1"}})
		}
		received := 0
		all := make(chan struct{}, 1)
		cfg.OnMessage = func(*manager.Worker, mp.Message) {
			if received++; received == n*perWorker {
				received = 0
				all <- struct{}{}
			}
		}
		readyAll := make(chan struct{})
		ready := 0
		cfg.OnReady = func(*manager.Worker) {
			if ready++; ready == n {
				close(readyAll)
			}
		}
		m, err := manager.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		<-readyAll
		b.ResetTimer()
		for b.Loop() {
			for _, w := range m.Workers() {
				if err := burst.Send(ctx, w.Process(), perWorker); err != nil {
					b.Fatal(err)
				}
			}
			<-all
		}
		b.ReportMetric(float64(n*perWorker)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
	b.Run("floor-100", func(b *testing.B) { fanInFloor(b, 100, perWorker) })
	b.Run("direct-1", func(b *testing.B) {
		p, err := testWorkers.Start(context.Background(), mp.Options{Name: "direct"})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Stop()
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
			readyAll := make(chan struct{})
			ready := 0
			cfg.OnReady = func(*manager.Worker) {
				if ready++; ready == n {
					close(readyAll)
				}
			}
			m, err := manager.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			<-readyAll
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
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
