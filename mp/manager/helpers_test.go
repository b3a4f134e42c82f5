package manager_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// lockedBuffer collects the manager's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// config is a Config for n test workers, logging into the returned buffer.
func config(n int) (manager.Config, *lockedBuffer) {
	logs := &lockedBuffer{}
	return manager.Config{
		Workers: n,
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return testWorkers.Start(ctx, mp.Options{Name: w.Name()})
		},
		MaxRestarts:     3,
		Backoff:         10 * time.Millisecond,
		ShutdownTimeout: 2 * time.Second,
		StillAlive:      -1,
		Log:             slog.New(mplog.NewHandler(logs, "manager", mplog.Front, nil)),
	}, logs
}

// runManager runs m until the test ends it. wait waits for Run's result;
// the test fails if Run has not returned 10 s after cancel, or left a
// process behind.
func runManager(t *testing.T, m *manager.Manager) (cancel context.CancelFunc, wait func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	done := make(chan struct{})
	go func() { err = m.Run(ctx); close(done) }()
	wait = func() error {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10 s")
		}
		return err
	}
	t.Cleanup(func() {
		cancel()
		wait()
		assert.Empty(t, tagged(), "processes left behind")
	})
	return cancel, wait
}

// result is how a task of jobTask or collect ended: on which worker, the
// PID its job replied, and its error.
type result struct {
	w   string
	pid int
	err error
}

// recv returns the next result, failing the test after 10 s.
func recv(t *testing.T, out <-chan result) result {
	t.Helper()
	select {
	case r := <-out:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no task ended within 10 s")
		return result{}
	}
}

// jobTask is a task that runs j and reports its result on out.
func jobTask(name string, j job, timeout time.Duration, out chan<- result) manager.Task {
	return runJob(name, j, timeout, func(r result) { out <- r })
}

// runJob is a task that runs j and hands its result, with the name of the
// worker that ran it ("" if none did), to done.
func runJob(name string, j job, timeout time.Duration, done func(result)) manager.Task {
	var pid int
	return manager.Task{
		Name: name, Timeout: timeout,
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) (err error) {
			pid, err = doJob.Call(ctx, p, j)
			return err
		},
		Done: func(w *manager.Worker, err error) {
			worker := ""
			if w != nil {
				worker = w.Name()
			}
			done(result{w: worker, pid: pid, err: err})
		},
	}
}

// collect submits tasks and gathers their results by name.
type collect struct {
	mu  sync.Mutex
	res map[string]result
	all chan struct{}
	n   int
}

func newCollect(n int) *collect {
	return &collect{res: map[string]result{}, all: make(chan struct{}), n: n}
}

// task is a task that runs j; its result is kept under name.
func (c *collect) task(name string, j job, timeout time.Duration) manager.Task {
	return runJob(name, j, timeout, func(r result) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.res[name] = r
		if len(c.res) == c.n {
			close(c.all)
		}
	})
}

func (c *collect) wait(t *testing.T) map[string]result {
	t.Helper()
	select {
	case <-c.all:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d of %d tasks ended", len(c.res), c.n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.res
}
