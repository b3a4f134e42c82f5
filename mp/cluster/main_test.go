package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/mpgo/mp/mp/manager"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// envHost makes the test binary a worker host connected to the URL it
// holds: the process the tests kill.
const envHost = "MP_CLUSTER_TEST_HOST"

// envNode makes the test binary a node of a NATS cluster: "name port
// cluster-port store-dir route...".
const envNode = "MP_CLUSTER_TEST_NODE"

// The test binary is also the backends' binary: Init first.
func TestMain(m *testing.M) {
	mp.Init()
	if os.Getenv("MP_TEST_TAG") == "" {
		os.Setenv("MP_TEST_TAG", "mp-cluster-"+strconv.Itoa(os.Getpid()))
	}
	if url := os.Getenv(envHost); url != "" {
		os.Exit(runHost(url))
	}
	if node := os.Getenv(envNode); node != "" {
		os.Exit(runNode(node))
	}
	os.Exit(m.Run())
}

// Job is the request of the test command.
type Job struct {
	N     int
	Panic bool   // crash the backend, every time
	Fail  string // return this error
	// Dir, if set: the handler writes a file there for each run; the
	// first run then blocks until its context ends (its worker is killed).
	Dir   string
	Sleep time.Duration // then reply
}

// Result is its reply.
type Result struct {
	Square int
	Runs   int // runs of this task so far, counted in Dir
	Pid    int
}

var square = mp.NewCommand[Job, Result]("square")

type testWorker struct{ *mp.Backend }

func (w *testWorker) square(ctx context.Context, j Job) (Result, error) {
	switch {
	case j.Panic:
		panic("poison")
	case j.Fail != "":
		return Result{}, errors.New(j.Fail)
	}
	runs := 0
	if j.Dir != "" {
		entries, _ := os.ReadDir(j.Dir)
		runs = len(entries) + 1
		if err := os.WriteFile(filepath.Join(j.Dir, fmt.Sprintf("run-%d", runs)), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			return Result{}, err
		}
		if runs == 1 {
			<-ctx.Done()
			return Result{}, ctx.Err()
		}
	}
	select {
	case <-time.After(j.Sleep):
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	return Result{Square: j.N * j.N, Runs: runs, Pid: os.Getpid()}, nil
}

var testWorkers = mp.NewKind("TestWorker", func(b *mp.Backend) *testWorker { return &testWorker{b} })

func init() { mp.HandleCommand(testWorkers, square, (*testWorker).square) }

// testConfig is the cluster configuration of the tests: short waits.
var testConfig = cluster.Config{AckWait: time.Second, MaxDeliver: 3}

// newManager returns a manager of n test workers that tolerates crashes.
func newManager(n int) (*manager.Manager, error) {
	return manager.New(manager.Config{
		Workers:     n,
		MaxRestarts: 1000,
		Backoff:     time.Millisecond,
		StillAlive:  -1,
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return testWorkers.Start(ctx, mp.Options{Name: w.Name()})
		},
		Log: mplog.New("manager", mplog.Front),
	})
}

// runHost is a worker host in a process of its own, until SIGTERM.
func runHost(url string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	nc, err := cluster.Connect(url, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer nc.Close()
	m, err := newManager(1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := testConfig
	if n, err := strconv.Atoi(os.Getenv("MP_CLUSTER_TEST_MAXDELIVER")); err == nil {
		cfg.MaxDeliver = n
	}
	w := cluster.NewWorker(nc, cfg, cluster.WorkerOptions{})
	cluster.Serve(w, square)
	if err := w.Run(ctx, m); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startServer starts an embedded server on 127.0.0.1 for one test.
func startServer(t testing.TB, cfg embedded.Config) *embedded.Server {
	t.Helper()
	s, err := embedded.Start(cfg)
	require.NoError(t, err)
	t.Cleanup(s.Shutdown)
	return s
}

// connect connects to s for one test.
func connect(t testing.TB, s *embedded.Server) *nats.Conn {
	t.Helper()
	nc, err := cluster.Connect(s.URL(), 0)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// startHost runs a worker host of n workers in this process until the end
// of the test, and returns its Worker.
func startHost(t testing.TB, nc *nats.Conn, cfg cluster.Config, n int) {
	t.Helper()
	m, err := newManager(n)
	require.NoError(t, err)
	w := cluster.NewWorker(nc, cfg, cluster.WorkerOptions{})
	cluster.Serve(w, square)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, m) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// newClient returns a client for one test.
func newClient(t testing.TB, nc *nats.Conn, cfg cluster.Config) *cluster.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cluster.NewClient(ctx, nc, cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// runNode is a node of a three-node NATS cluster on 127.0.0.1, in a process
// of its own, until a signal ends it. It prints "ready" once it accepts
// clients.
func runNode(spec string) int {
	f := strings.Fields(spec)
	port, _ := strconv.Atoi(f[1])
	clusterPort, _ := strconv.Atoi(f[2])
	s, err := embedded.Start(embedded.Config{
		Name: f[0], Port: port, StoreDir: f[3],
		ClusterName: "mp-test", ClusterPort: clusterPort, Routes: f[4:],
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Shutdown()
	fmt.Println("ready")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	return 0
}
