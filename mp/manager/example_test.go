package manager_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// Two workers; once both are ready, five tasks handed out as workers fall
// idle; then a stop. (A program's main calls mp.Init first; here the test
// binary's TestMain does.)
func Example() {
	var results []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var m *manager.Manager
	submit := func(i int) {
		var pid int
		m.Submit(manager.Task{
			Name:    fmt.Sprintf("job-%d", i),
			Timeout: 10 * time.Second,
			// Do runs on a goroutine of its own: call the worker.
			Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) (err error) {
				pid, err = doJob.Call(ctx, p, job{Sleep: time.Millisecond})
				return err
			},
			// Done runs on the manager's loop, after Do.
			Done: func(w *manager.Worker, err error) {
				results = append(results, fmt.Sprintf("job-%d: err %v, ran in its worker: %v", i, err, pid == w.Process().Pid()))
				if len(results) == 5 {
					cancel()
				}
			},
		})
	}
	ready := 0
	m, err := manager.New(manager.Config{
		Workers: 2,
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return testWorkers.Start(ctx, mp.Options{Name: w.Name()})
		},
		// Callbacks run on the manager's loop, one at a time.
		OnReady: func(w *manager.Worker) {
			if ready++; ready == 2 {
				for i := range 5 {
					submit(i)
				}
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Run:", m.Run(ctx))
	slices.Sort(results)
	for _, r := range results {
		fmt.Println(r)
	}
	// Output:
	// manager [front] - INFO - stopping 2 workers
	// Run: <nil>
	// job-0: err <nil>, ran in its worker: true
	// job-1: err <nil>, ran in its worker: true
	// job-2: err <nil>, ran in its worker: true
	// job-3: err <nil>, ran in its worker: true
	// job-4: err <nil>, ran in its worker: true
}
