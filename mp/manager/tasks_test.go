package manager_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// Nine tasks submitted once all three workers are idle all succeed, and
// each worker takes some of them. The test does not check the order of the
// turns, only that no idle worker is passed over.
func TestTasksGoToIdleWorkersInTurn(t *testing.T) {
	cfg, _ := config(3)
	var m *manager.Manager
	out := make(chan result, 9)
	ready := 0
	cfg.OnReady = func(w *manager.Worker) {
		if ready++; ready == 3 { // all in the idle pool: each takes one of the first three
			for i := range 9 {
				m.Submit(jobTask("t"+string(rune('a'+i)), job{Sleep: time.Millisecond}, 0, out))
			}
		}
	}
	m, err := manager.New(cfg)
	require.NoError(t, err)
	cancel, wait := runManager(t, m)
	seen := map[string]int{}
	for range 9 {
		r := recv(t, out)
		require.NoError(t, r.err)
		assert.NotZero(t, r.pid)
		seen[r.w]++
	}
	assert.Len(t, seen, 3, "every worker took tasks: %v", seen)
	cancel()
	assert.NoError(t, wait())
}

// Rule: a task goes only to a worker known alive and idle, and the counts
// read the workers' states.
func TestIdleAndBusyReadTheWorkersStates(t *testing.T) {
	cfg, _ := config(2)
	var m *manager.Manager
	seen := make(chan [2]int, 1)
	ready := 0
	cfg.OnReady = func(*manager.Worker) {
		if ready++; ready == 2 {
			seen <- [2]int{m.Idle(), m.Busy()}
		}
	}
	inTask := make(chan [2]int, 1)
	var err error
	m, err = manager.New(cfg)
	require.NoError(t, err)
	cancel, wait := runManager(t, m)
	assert.Equal(t, [2]int{2, 0}, <-seen)
	require.NoError(t, m.Submit(manager.Task{Name: "look", Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
		assert.Equal(t, manager.Busy, w.State())
		inTask <- [2]int{m.Idle(), m.Busy()}
		return nil
	}}))
	assert.Equal(t, [2]int{1, 1}, <-inTask)
	cancel()
	require.NoError(t, wait())
	for _, w := range m.Workers() {
		assert.Equal(t, manager.Exited, w.State())
	}
}

// Fault: a worker that ends itself after each task (Backend.Stop, what
// Python calls maxtasksperchild) used to go back to the idle pool before
// the manager knew it was exiting: the next task handed to it failed with
// "worker died: exit status 0" without ever running, and each exit counted
// as a restart. Every task must run, each on a live worker, and no exit
// may count as a failure (MaxRestarts is 0 here).
func TestFaultRecycledWorkerLosesNoTasks(t *testing.T) {
	cfg, logs := config(2)
	cfg.MaxRestarts = 0
	m, err := manager.New(cfg)
	require.NoError(t, err)
	c := newCollect(20)
	for i := range 20 {
		require.NoError(t, m.Submit(c.task(fmt.Sprintf("t%d", i), job{Quit: true}, 0)))
	}
	cancel, wait := runManager(t, m)
	pids := map[int]bool{}
	for name, r := range c.wait(t) {
		assert.NoError(t, r.err, name)
		assert.False(t, pids[r.pid], "two tasks ran in process %d, which ends after one", r.pid)
		pids[r.pid] = true
	}
	cancel()
	require.NoError(t, wait())
	assert.NotContains(t, logs.String(), "died")
	assert.Contains(t, logs.String(), "ended itself: exit status 0; replacing it")
}

// Fault: a task hangs past its timeout, deaf even to its context. The
// worker must be stopped and replaced, and the task fail with
// ErrTaskTimeout, naming the worker.
func TestFaultTaskTimeout(t *testing.T) {
	cfg, logs := config(1)
	cfg.ShutdownTimeout = 300 * time.Millisecond
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 2)
	m.Submit(jobTask("slow", job{Hang: true}, 200*time.Millisecond, out))
	m.Submit(jobTask("next", job{Sleep: time.Millisecond}, time.Second, out))
	runManager(t, m)
	start := time.Now()
	r := recv(t, out)
	took := time.Since(start)
	var te *manager.TaskError
	require.ErrorAs(t, r.err, &te)
	assert.ErrorIs(t, r.err, manager.ErrTaskTimeout)
	assert.Equal(t, "worker-1", te.Worker)
	assert.Equal(t, "signal: killed", te.Exit) // deaf to SIGTERM: the ladder's last rung
	assert.Less(t, took, 3*time.Second)
	r = recv(t, out)
	assert.NoError(t, r.err, "the replacement worker runs the next task")
	assert.Contains(t, logs.String(), "ran past its timeout")
}

// A task that exceeds its timeout but listens to its context: the worker
// gets SIGTERM at once (not after the ladder's first rung), and exits
// cleanly.
func TestTaskTimeoutTerminatesPromptly(t *testing.T) {
	cfg, _ := config(1)
	cfg.ShutdownTimeout = 10 * time.Second
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 1)
	m.Submit(jobTask("slow", job{Sleep: time.Hour}, 100*time.Millisecond, out))
	runManager(t, m)
	start := time.Now()
	r := recv(t, out)
	assert.ErrorIs(t, r.err, manager.ErrTaskTimeout)
	assert.Less(t, time.Since(start), 2*time.Second, "waited for the command pipe's rung")
	var te *manager.TaskError
	require.ErrorAs(t, r.err, &te)
	assert.Equal(t, "exit status 0", te.Exit)
}

// Fault: a worker the manager stopped for a task timeout used to count
// as a restart, so a few timeouts stopped the whole manager with "restart
// intensity reached … died: exit status 0". A timeout is not a failure.
func TestFaultTimeoutsDoNotStopTheManager(t *testing.T) {
	cfg, logs := config(2)
	cfg.MaxRestarts = 0
	m, err := manager.New(cfg)
	require.NoError(t, err)
	c := newCollect(16)
	for i := range 16 {
		j := job{Sleep: time.Millisecond}
		if i%4 == 3 {
			j.Sleep = time.Hour // listens to ctx: SIGTERM ends it
		}
		require.NoError(t, m.Submit(c.task(fmt.Sprintf("t%d", i), j, 300*time.Millisecond)))
	}
	cancel, wait := runManager(t, m)
	for i := range 16 {
		r := c.wait(t)[fmt.Sprintf("t%d", i)]
		if i%4 == 3 {
			var te *manager.TaskError
			require.ErrorAs(t, r.err, &te, "t%d", i)
			assert.ErrorIs(t, r.err, manager.ErrTaskTimeout, "t%d", i)
			assert.NotErrorIs(t, r.err, manager.ErrWorkerDied, "t%d", i)
		} else {
			assert.NoError(t, r.err, "t%d", i)
		}
	}
	cancel()
	require.NoError(t, wait(), "a few timeouts stopped the manager")
	assert.NotContains(t, logs.String(), "died")
	assert.Contains(t, logs.String(), "ran past its timeout of 300ms; replacing it")
}

// Rule: nothing a task started outlives the task's worker. The handler runs
// a tool (sleep 300) and waits for it, deaf to its ctx, past the task's
// timeout: once the worker is replaced, the tool is gone.
func TestNothingATaskStartedOutlivesItsWorker(t *testing.T) {
	cfg, _ := config(1)
	tools := make(chan int, 1)
	cfg.OnMessage = func(w *manager.Worker, msg mp.Message) {
		if msg.Command == "tool" {
			pid, _ := msg.Params.Int("pid")
			tools <- pid
		}
	}
	replaced := make(chan struct{}, 2)
	ready := 0
	cfg.OnReady = func(*manager.Worker) {
		if ready++; ready == 2 {
			replaced <- struct{}{}
		}
	}
	m, err := manager.New(cfg)
	require.NoError(t, err)
	c := newCollect(1)
	require.NoError(t, m.Submit(c.task("tool", job{Tool: true}, 200*time.Millisecond)))
	cancel, wait := runManager(t, m)
	pid := <-tools
	require.True(t, proctest.Alive(pid))
	assert.ErrorIs(t, c.wait(t)["tool"].err, manager.ErrTaskTimeout)
	<-replaced
	// The group's SIGKILL is delivered at once, but the tool takes a moment
	// to die: the promise is nothing alive a second later.
	assert.True(t, proctest.AwaitGone(t, pid, time.Second), "the tool outlived the worker that started it")
	cancel()
	require.NoError(t, wait())
}

// After Run has returned (its ctx was cancelled before it began), Submit
// fails with mp.ErrStopped, the task's Done is not called, and no worker
// process is left.
func TestSubmitAfterStop(t *testing.T) {
	cfg, _ := config(1)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, m.Run(ctx))
	called := false
	err = m.Submit(manager.Task{Name: "late", Done: func(*manager.Worker, error) { called = true }})
	assert.ErrorIs(t, err, mp.ErrStopped)
	assert.False(t, called)
	assert.Empty(t, tagged())
}
