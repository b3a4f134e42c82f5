package manager_test

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// Fault: a worker that never answers and ignores SIGTERM. The manager's
// shutdown must still end within ShutdownTimeout (plus the kernel's time
// to reap), with nothing left.
func TestFaultHungWorkerShutdownMeetsDeadline(t *testing.T) {
	cfg, _ := config(3)
	cfg.ShutdownTimeout = 500 * time.Millisecond
	hung := make(chan struct{}, 3)
	cfg.OnMessage = func(w *manager.Worker, msg mp.Message) { hung <- struct{}{} }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 3)
	for range 3 {
		m.Submit(jobTask("hang", job{Hang: true, Notify: true}, 0, out))
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- m.Run(ctx) }()
	for range 3 {
		<-hung
	}
	start := time.Now()
	cancel()
	select {
	case err := <-res:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not end")
	}
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
	assert.Empty(t, tagged())
	for range 3 {
		assert.ErrorIs(t, recv(t, out).err, mp.ErrStopped)
	}
}

// Fault: the workers hang and the shutdown deadline is long; closing Force
// (the second Ctrl-C) must kill them at once.
func TestFaultForceKillsAtOnce(t *testing.T) {
	cfg, _ := config(2)
	cfg.ShutdownTimeout = time.Minute
	force := make(chan struct{})
	cfg.Force = force
	hung := make(chan struct{}, 2)
	cfg.OnMessage = func(w *manager.Worker, msg mp.Message) { hung <- struct{}{} }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 2)
	for range 2 {
		m.Submit(jobTask("hang", job{Hang: true, Notify: true}, 0, out))
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- m.Run(ctx) }()
	<-hung
	<-hung
	cancel()
	start := time.Now()
	close(force)
	select {
	case <-res:
	case <-time.After(5 * time.Second):
		t.Fatal("a forced stop did not end")
	}
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Empty(t, tagged())
}

// Fault: the manager is stopped while many workers are still starting.
// Every worker started so far must be stopped, and the starts in flight
// cut short or stopped: nothing left when Run returns. (The chapter's
// script main1_sigint_starting.txtar does the same with 500 workers.)
func TestFaultStopWhileStarting(t *testing.T) {
	cfg, _ := config(40)
	cfg.StartConcurrency = 8
	// Workers that warm up after their process starts, for a second that a
	// stop does not cut short (as a slow pre-run would not be). The stop
	// comes once some worker is warming up: that start is in flight, its
	// process alive.
	var inStart atomic.Int32 // Start calls not yet returned
	warming := make(chan struct{}, 40)
	cfg.Start = func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
		inStart.Add(1)
		defer inStart.Add(-1)
		p, err := testWorkers.Start(ctx, mp.Options{Name: w.Name()})
		if err != nil {
			return nil, err
		}
		warming <- struct{}{}
		if _, err := doJob.Call(context.WithoutCancel(ctx), p, job{Sleep: time.Second}); err != nil {
			p.Close()
			return nil, err
		}
		return p, nil
	}
	m, err := manager.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- m.Run(ctx) }()
	<-warming
	cancel()
	require.NoError(t, <-res)
	assert.Zero(t, inStart.Load(), "Run returned while starts were in flight")
	assert.Empty(t, tagged(), "processes left behind")
}

// Fault: a task's Do that keeps working after its ctx ended used to keep
// Run waiting, silently, for as long as it liked (a third Ctrl-C was
// swallowed). Run gives up after ShutdownTimeout, and says which tasks it
// gave up on. (That it waits is a debug line: when the workers have
// stopped, a Do that returns on its ctx may not have been heard of yet,
// so at Info level the line would come and go with the scheduler.)
func TestFaultDoIgnoringItsContextDoesNotHoldRun(t *testing.T) {
	cfg, logs := config(1)
	cfg.ShutdownTimeout = 300 * time.Millisecond
	m, err := manager.New(cfg)
	require.NoError(t, err)
	inDo := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	doneRan := make(chan struct{}, 1)
	require.NoError(t, m.Submit(manager.Task{
		Name: "stubborn",
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			close(inDo)
			<-release // deaf to ctx
			return nil
		},
		Done: func(*manager.Worker, error) { doneRan <- struct{}{} },
	}))
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- m.Run(ctx) }()
	<-inDo
	cancel()
	select {
	case err := <-res:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run waited for a Do that ignores its ctx")
	}
	assert.Contains(t, logs.String(), `not waiting any longer for the Do of "stubborn", which ignored its ctx`)
	assert.Empty(t, doneRan)
	assert.Empty(t, tagged())
}

// Rule: an orderly stop is never reported as a failure, however the
// signals arrive. Here every process of the service gets SIGTERM at once,
// as systemctl stop sends it: the manager's Run context ends, and each
// worker is terminated from outside.
func TestOrderlyStopOfEveryProcessIsNoFailure(t *testing.T) {
	cfg, logs := config(3)
	cfg.MaxRestarts = 0
	var m *manager.Manager
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	allReady := make(chan struct{})
	ready := 0
	cfg.OnReady = func(*manager.Worker) {
		if ready++; ready == 3 {
			close(allReady)
		}
	}
	m, err := manager.New(cfg)
	require.NoError(t, err)
	c := newCollect(1)
	require.NoError(t, m.Submit(c.task("long", job{Sleep: time.Hour}, 0)))
	res := make(chan error, 1)
	go func() { res <- m.Run(ctx) }()
	<-allReady
	var pids []int
	for _, w := range m.Workers() {
		pids = append(pids, w.Process().Pid())
	}
	// The manager's own signal first, as systemd sends it to the main
	// process first; then every worker.
	cancel()
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	select {
	case err := <-res:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	assert.NotContains(t, logs.String(), "ERROR")
	assert.NotContains(t, logs.String(), "restarting")
	assert.NotContains(t, logs.String(), "replacing")
	r := c.wait(t)["long"]
	assert.True(t, errors.Is(r.err, mp.ErrStopped) || errors.Is(r.err, manager.ErrWorkerDied), "%v", r.err)
	assert.Empty(t, tagged())
}

// Fault (make stress, in a docs' run): an orderly stop whose task's Do
// returns on its ctx logged "all workers stopped; waiting up to 5s for the
// Do of …" when the workers' exits reached the loop before the Do's
// return, which the scheduler decides: the docs' output changed from run
// to run. Here the Do returns only once its worker has exited, the order
// that brought the line; no warning or info line may say the manager
// waits for it.
func TestOrderlyStopWithATaskInFlightSaysNothingOfWaiting(t *testing.T) {
	cfg, logs := config(1)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	inDo := make(chan struct{})
	require.NoError(t, m.Submit(manager.Task{
		Name: "polite",
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			close(inDo)
			<-ctx.Done()
			<-p.Done() // return after the worker's exit
			return ctx.Err()
		},
	}))
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- m.Run(ctx) }()
	<-inDo
	cancel()
	require.NoError(t, <-res)
	assert.NotContains(t, logs.String(), "waiting up to")
	assert.NotContains(t, logs.String(), "not waiting any longer")
	assert.Empty(t, tagged())
}
