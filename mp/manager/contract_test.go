package manager_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

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

func (c *collect) task(name string, j job, timeout time.Duration) manager.Task {
	var pid int
	return manager.Task{
		Name: name, Timeout: timeout,
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) (err error) {
			pid, err = doJob.Call(ctx, p, j)
			return err
		},
		Done: func(w *manager.Worker, err error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.res[name] = result{pid: pid, err: err}
			if len(c.res) == c.n {
				close(c.all)
			}
		},
	}
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

// Fault 1: a worker that ends itself after each task (Backend.Stop, what
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

// Fault 2: a worker the manager stopped for a task timeout used to count
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

// Fault 3: SIGTERM sent to a worker from outside while it runs a task used
// to end that task with a plain handler error ("context canceled"), and
// the next task, handed to the exiting worker, failed with "worker died"
// without running. The interrupted task must fail as a TaskError wrapping
// ErrWorkerDied, and the next run on the replacement.
func TestFaultExternalSIGTERMBlamesTheRightTask(t *testing.T) {
	cfg, logs := config(1)
	cfg.MaxRestarts = 0 // being terminated from outside is no failure
	started := make(chan int, 1)
	cfg.OnMessage = func(w *manager.Worker, msg mp.Message) {
		if msg.Command == "started" {
			started <- w.Process().Pid()
		}
	}
	reports := make(chan *manager.ExitReport, 1)
	cfg.OnExit = func(w *manager.Worker, e *manager.ExitReport) { reports <- e }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	c := newCollect(2)
	require.NoError(t, m.Submit(c.task("interrupted", job{Sleep: time.Hour, Notify: true}, 0)))
	require.NoError(t, m.Submit(c.task("next", job{}, 0)))
	cancel, wait := runManager(t, m)
	pid := <-started
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
	res := c.wait(t)
	var te *manager.TaskError
	require.ErrorAs(t, res["interrupted"].err, &te)
	assert.ErrorIs(t, te, manager.ErrWorkerDied)
	assert.Equal(t, pid, te.Pid)
	assert.Contains(t, te.Error(), "terminated by a signal from outside")
	require.NoError(t, res["next"].err, "the next task went to the exiting worker")
	assert.NotEqual(t, pid, res["next"].pid)
	e := <-reports
	assert.False(t, e.Failure)
	assert.Equal(t, mp.EndTerminated, e.Reason)
	assert.Equal(t, "interrupted", e.Task)
	cancel()
	require.NoError(t, wait())
	assert.NotContains(t, logs.String(), "ERROR")
}

// Fault 4: a task whose Do returned an error wrapping mp.ErrBackendDied that
// came from another process (say, a second backend the task called) used to
// leave its worker out of the pool for ever, and its Done never ran. The
// manager asks the worker's own process, not the error's wording.
func TestFaultErrorFromAnotherProcessKeepsTheWorker(t *testing.T) {
	cfg, _ := config(1)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	other := fmt.Errorf("calling the database's backend: %w", mp.ErrBackendDied)
	doneErr := make(chan error, 1)
	require.NoError(t, m.Submit(manager.Task{
		Name: "other",
		Do:   func(context.Context, *manager.Worker, *mp.Process) error { return other },
		Done: func(w *manager.Worker, err error) { doneErr <- err },
	}))
	c := newCollect(1)
	require.NoError(t, m.Submit(c.task("next", job{}, 0)))
	cancel, wait := runManager(t, m)
	select {
	case err := <-doneErr:
		assert.Equal(t, other, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the task's Done never ran")
	}
	assert.NoError(t, c.wait(t)["next"].err, "the worker left the pool")
	cancel()
	require.NoError(t, wait())
}

// Fault 5: a restart that fails in the worker's pre-run hook used to stop
// the manager with "last: its restart failed", naming neither the worker
// nor the cause; one that hung in pre-run was reported by nothing but
// "still alive". The error names both, and a start is bounded.
func TestFaultRestartFailureNamesWorkerAndCause(t *testing.T) {
	for _, tt := range []struct {
		prerun string
		want   []string
	}{
		{"fail", []string{`restart of "worker-1" failed`, "database is locked"}},
		{"hang", []string{`restart of "worker-1" failed`, "start timed out: not ready within 500ms"}},
	} {
		t.Run(tt.prerun, func(t *testing.T) {
			cfg, logs := config(1)
			cfg.MaxRestarts = 1 // the crash, then the failed restart
			cfg.StartTimeout = 500 * time.Millisecond
			cfg.StillAlive = 100 * time.Millisecond
			starts := 0
			cfg.Start = func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
				starts++
				params := mp.Params{}
				if starts > 1 {
					params["prerun"] = tt.prerun
				}
				return testWorkers.Start(ctx, mp.Options{Name: w.Name(), Params: params})
			}
			m, err := manager.New(cfg)
			require.NoError(t, err)
			require.NoError(t, m.Submit(manager.Task{Name: "crash", Do: crash}))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = m.Run(ctx)
			require.ErrorIs(t, err, manager.ErrRestartIntensity)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
			if tt.prerun == "hang" {
				assert.ErrorIs(t, err, manager.ErrStartTimeout)
				assert.Contains(t, logs.String(), "; starting: worker-1 for")
			}
			assert.Empty(t, tagged())
		})
	}
}

// Fault 6: Worker.Process called from a task's Do, as its doc invites, raced
// with the loop's writes when other workers restarted (go test -race); and
// Watch called after Run had started was never delivered.
func TestFaultWorkerAccessorsFromAnyGoroutine(t *testing.T) {
	cfg, _ := config(3)
	cfg.MaxRestarts = 10
	var m *manager.Manager
	c := newCollect(12)
	var tasks []manager.Task
	for i := range 12 {
		j := job{Sleep: 30 * time.Millisecond}
		if i%3 == 0 {
			j = job{Panic: true}
		}
		name := fmt.Sprintf("t%d", i)
		task := c.task(name, j, 0)
		do := task.Do
		task.Do = func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			// Read while the task runs and other workers restart.
			stop := make(chan struct{})
			read := make(chan struct{})
			go func() {
				defer close(read)
				for {
					for _, x := range m.Workers() {
						_ = x.Process()
						_ = x.State()
					}
					_ = m.Idle() + m.Busy()
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}()
			err := do(ctx, w, p)
			close(stop)
			<-read
			return err
		}
		tasks = append(tasks, task)
	}
	m, err := manager.New(cfg)
	require.NoError(t, err)
	for _, task := range tasks {
		require.NoError(t, m.Submit(task))
	}
	cancel, wait := runManager(t, m)
	c.wait(t)
	got := make(chan string, 1)
	ch := make(chan string, 1)
	require.NoError(t, manager.Watch(m, ch, func(s string) { got <- s }))
	ch <- "late"
	select {
	case s := <-got:
		assert.Equal(t, "late", s)
	case <-time.After(5 * time.Second):
		t.Fatal("a channel watched after Run started was never delivered")
	}
	cancel()
	require.NoError(t, wait())
	assert.ErrorIs(t, manager.Watch(m, ch, func(string) {}), mp.ErrStopped)
}

// Fault 7: a task's Do that keeps working after its ctx ended used to keep
// Run waiting, silently, for as long as it liked (a third Ctrl-C was
// swallowed). Run gives up after ShutdownTimeout, and says which tasks it
// gave up on. (It said so at Info level as soon as the workers had
// stopped, too, but a Do that returns on its ctx may not have been heard
// of yet then: the line came and went with the scheduler, in the docs'
// runs too; it is a debug line now.)
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
	assert.Eventually(t, func() bool { return !proctest.Alive(pid) }, time.Second, 5*time.Millisecond, "the tool outlived the worker that started it")
	cancel()
	require.NoError(t, wait())
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

// Rule: an idle managed worker costs the frontend two goroutines: its
// process's reader and the manager's watch of it (the process's deliverer of
// Messages runs only while messages wait). Counted as the difference
// between a manager of 10 workers and one of 50, once all are ready and
// their starts' goroutines have ended.
func TestIdleWorkerCostsTwoGoroutines(t *testing.T) {
	count := func(n int) int {
		cfg, _ := config(n)
		readyAll := make(chan struct{})
		ready := 0
		cfg.OnReady = func(*manager.Worker) {
			if ready++; ready == n {
				close(readyAll)
			}
		}
		m, err := manager.New(cfg)
		require.NoError(t, err)
		cancel, wait := runManager(t, m)
		defer func() { cancel(); require.NoError(t, wait()) }()
		<-readyAll
		// The starts' goroutines end just after their workers are ready:
		// look every millisecond until the count has not moved for 50.
		last, same := runtime.NumGoroutine(), 0
		for deadline := time.Now().Add(5 * time.Second); same < 50 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
			if g := runtime.NumGoroutine(); g == last {
				same++
			} else {
				last, same = g, 0
			}
		}
		return last
	}
	small, large := count(10), count(50)
	perWorker := float64(large-small) / 40
	t.Logf("%.2f goroutines per idle worker", perWorker)
	// 2.5: a stray goroutine of a loaded machine's moment is not a third
	// goroutine per worker.
	assert.LessOrEqual(t, perWorker, 2.5, "goroutines per idle worker")
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
