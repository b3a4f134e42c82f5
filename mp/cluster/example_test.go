package cluster_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/mpgo/mp/mp/manager"
)

// A NATS server embedded in the program, a worker host of one mp backend,
// and a client that calls the backends' typed command through the server.
// The handler of square is an ordinary mp handler (mp.HandleCommand); it
// would answer a local square.Call over the pipe just as well. (A program's
// main calls mp.Init first; here the test binary's TestMain does.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The server: 127.0.0.1, a free port, a temporary store that
	// Shutdown removes.
	srv, err := embedded.Start(embedded.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	nc, err := cluster.Connect(srv.URL(), 5*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()

	// A worker host: a manager of local backends, fed by a Worker.
	m, err := manager.New(manager.Config{
		Workers: 1,
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return testWorkers.Start(ctx, mp.Options{Name: w.Name()})
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	w := cluster.NewWorker(nc, cluster.Config{}, cluster.WorkerOptions{})
	cluster.Serve(w, square)
	hostCtx, stopHost := context.WithCancel(ctx)
	hostDone := make(chan error, 1)
	go func() { hostDone <- w.Run(hostCtx, m) }()
	defer stopHost()

	// The client: any program, on any host, that reaches the server.
	c, err := cluster.NewClient(ctx, nc, cluster.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	for _, n := range []int{3, 4} {
		r, err := cluster.Call(ctx, c, square, Job{N: n})
		fmt.Println(n, "squared:", r.Square, err)
	}
	_, err = cluster.Call(ctx, c, square, Job{Fail: "no"})
	fmt.Println("a handler's error:", err != nil)

	stopHost()
	fmt.Println("host:", <-hostDone)
	// Output:
	// 3 squared: 9 <nil>
	// 4 squared: 16 <nil>
	// a handler's error: true
	// manager [front] - INFO - stopping 1 worker
	// host: <nil>
}
