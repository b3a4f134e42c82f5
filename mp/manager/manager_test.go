package manager_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// New refuses, with ErrConfig, a Config with no or negative Workers, no
// Start, a negative Period, an unknown Restart, or a RestartOf that gives
// an unknown Restart.
func TestConfigErrors(t *testing.T) {
	start := func(context.Context, *manager.Worker) (*mp.Process, error) { return nil, nil }
	for name, cfg := range map[string]manager.Config{
		"no workers":       {Start: start},
		"negative workers": {Workers: -1, Start: start},
		"no start":         {Workers: 1},
		"negative period":  {Workers: 1, Start: start, Period: -time.Second},
		"bad restart":      {Workers: 1, Start: start, Restart: 7},
		"bad restart of 0": {Workers: 1, Start: start, RestartOf: func(int) manager.Restart { return -1 }},
	} {
		_, err := manager.New(cfg)
		assert.ErrorIs(t, err, manager.ErrConfig, name)
	}
}

// Messages are tagged with the worker that sent them, and an extra channel
// joins the same loop.
func TestFanInAndWatch(t *testing.T) {
	cfg, _ := config(4)
	counts := map[string]int{}
	total := 0
	done := make(chan struct{})
	cfg.OnMessage = func(w *manager.Worker, msg mp.Message) {
		counts[w.Name()]++
		if total++; total == 4*500 {
			close(done)
		}
	}
	m, err := manager.New(cfg)
	require.NoError(t, err)
	extra := make(chan string, 1)
	got := make(chan string, 1)
	manager.Watch(m, extra, func(s string) { got <- s + " on the loop" })
	want := map[string]int{}
	finished := make(chan struct{}, 4)
	for range 4 {
		m.Submit(manager.Task{Name: "burst", Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			_, err := burst.Call(ctx, p, 500)
			return err
		}, Done: func(w *manager.Worker, err error) {
			assert.NoError(t, err)
			want[w.Name()] += 500
			finished <- struct{}{}
		}})
	}
	runManager(t, m)
	extra <- "hello"
	assert.Equal(t, "hello on the loop", <-got)
	<-done
	for range 4 {
		<-finished
	}
	assert.Equal(t, want, counts)
}

// With Config.StillAlive set (50 ms here), the manager logs a periodic
// "still alive" line with the workers' counts.
func TestStillAlive(t *testing.T) {
	cfg, _ := config(1)
	cfg.StillAlive = 50 * time.Millisecond
	logs := &lineWatch{want: "still alive: 1 worker running, 1 idle", seen: make(chan struct{})}
	cfg.Log = slog.New(mplog.NewHandler(logs, "manager", mplog.Front, nil))
	m, err := manager.New(cfg)
	require.NoError(t, err)
	runManager(t, m)
	select {
	case <-logs.seen:
	case <-time.After(5 * time.Second):
		t.Fatalf("no %q logged within 5 s", logs.want)
	}
}

// lineWatch is a log's writer that closes seen at the first write holding
// want (the log handler writes one record per write).
type lineWatch struct {
	want string
	seen chan struct{}
	once sync.Once
}

func (l *lineWatch) Write(p []byte) (int, error) {
	if strings.Contains(string(p), l.want) {
		l.once.Do(func() { close(l.seen) })
	}
	return len(p), nil
}

// Fault: Worker.Process called from a task's Do, as its doc invites, raced
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

// Descriptor numbers set no limit (the original's select() broke at 1024):
// with 1,100 descriptors already open, the workers' pipes get numbers
// above 1024, and tasks and messages go through as usual.
func TestDescriptorsAbove1024(t *testing.T) {
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	for range 1100 {
		f, err := os.Open(os.DevNull)
		require.NoError(t, err, "raise the open-file limit (ulimit -n) to run this test")
		held = append(held, f)
	}
	require.Greater(t, int(held[len(held)-1].Fd()), 1024)
	cfg, _ := config(3)
	got := make(chan struct{}, 3*100)
	cfg.OnMessage = func(*manager.Worker, mp.Message) { got <- struct{}{} }
	m, err := manager.New(cfg)
	require.NoError(t, err)
	out := make(chan result, 3)
	for range 3 {
		m.Submit(jobTask("job", job{Sleep: time.Millisecond}, 5*time.Second, out))
		m.Submit(manager.Task{Name: "burst", Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			_, err := burst.Call(ctx, p, 100)
			return err
		}})
	}
	runManager(t, m)
	for range 3 {
		assert.NoError(t, recv(t, out).err)
	}
	for range 300 {
		<-got
	}
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
		// look every millisecond until the count has not moved for 50. A
		// bounded poll, as nothing better exists: the runtime tells no one
		// of a goroutine's end, and these goroutines are the manager's.
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
