package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/mpgo/mp/mp/manager"
	"github.com/stretchr/testify/require"
)

// BenchmarkRoundTrip is one typed command, called and answered, over the
// pipe of one backend and through the embedded server to a worker host of
// one backend, in the same run: the price of a network hop on one host.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("pipe", func(b *testing.B) {
		ctx := context.Background()
		p, err := testWorkers.Start(ctx, mp.Options{Name: "bench"})
		require.NoError(b, err)
		defer p.Shutdown(ctx)
		b.ResetTimer()
		for b.Loop() {
			if _, err := square.Call(ctx, p, Job{N: 3}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nats", func(b *testing.B) {
		s := startServer(b, embedded.Config{})
		nc := connect(b, s)
		startHost(b, nc, cluster.Config{}, 1)
		c := newClient(b, nc, cluster.Config{})
		ctx := context.Background()
		_, err := c.WaitHosts(ctx, 1, square.Name())
		require.NoError(b, err)
		b.ResetTimer()
		for b.Loop() {
			if _, err := cluster.Call(ctx, c, square, Job{N: 3}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTasks is the throughput of small tasks with 1, 10 and 100
// workers: submitted all at once (from 8 goroutines) through JetStream to
// one worker host,
// and, beside it, submitted to the same host's manager directly. It reports
// tasks/s.
func BenchmarkTasks(b *testing.B) {
	for _, workers := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("workers=%d/manager", workers), func(b *testing.B) {
			m, err := newManager(workers)
			require.NoError(b, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			defer func() { cancel(); <-done }()
			waitIdle(b, m, workers) // every worker up before the clock starts
			ends := make(chan error, b.N)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				m.Submit(manager.Task{
					Do: func(ctx context.Context, _ *manager.Worker, p *mp.Process) error {
						_, err := square.Call(ctx, p, Job{N: 3})
						return err
					},
					Done: func(_ *manager.Worker, err error) { ends <- err },
				})
			}
			for range b.N {
				if err := <-ends; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
		})
		b.Run(fmt.Sprintf("workers=%d/jetstream", workers), func(b *testing.B) {
			s := startServer(b, embedded.Config{})
			nc := connect(b, s)
			startHost(b, nc, cluster.Config{}, workers)
			c := newClient(b, nc, cluster.Config{})
			ctx := context.Background()
			_, err := c.WaitHosts(ctx, 1, square.Name())
			require.NoError(b, err)
			tasks := make([]*cluster.Task[Result], b.N)
			b.ResetTimer()
			start := time.Now()
			// Submit waits for the server to store each task: submitters
			// on several goroutines keep the queue ahead of the workers.
			var wg sync.WaitGroup
			errs := make(chan error, submitters)
			for k := range submitters {
				wg.Go(func() {
					for i := k; i < len(tasks); i += submitters {
						var err error
						if tasks[i], err = cluster.Submit(ctx, c, square, Job{N: 3}); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
			for _, t := range tasks {
				if _, err := t.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
		})
	}
}

// submitters is the number of goroutines that submit the tasks of
// BenchmarkTasks's JetStream side.
const submitters = 8

// waitIdle waits until n workers of m are idle.
func waitIdle(b *testing.B, m *manager.Manager, n int) {
	b.Helper()
	require.Eventually(b, func() bool { return m.Idle() == n }, 30*time.Second, time.Millisecond)
}

// BenchmarkServerStart is the start of an embedded server with JetStream,
// up to its first accepted connection, and its stop.
func BenchmarkServerStart(b *testing.B) {
	var started time.Duration
	for b.Loop() {
		t0 := time.Now()
		s, err := embedded.Start(embedded.Config{})
		require.NoError(b, err)
		nc, err := cluster.Connect(s.URL(), 0)
		require.NoError(b, err)
		started += time.Since(t0)
		nc.Close()
		s.Shutdown()
	}
	b.ReportMetric(started.Seconds()*1000/float64(b.N), "ms-to-first-conn")
}
