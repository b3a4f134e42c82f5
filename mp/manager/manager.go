package manager

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mpgo/mp/mp"
)

// Config configures a Manager. Workers and Start are required; every other
// field has a default.
type Config struct {
	// Workers is the number of worker processes, at least 1.
	Workers int
	// Name names worker i (0-based); nil means "worker-<i+1>".
	Name func(i int) string
	// Start starts the process of worker w, at first and on every restart:
	// typically a Kind's Start with Options.Name set to w.Name(). ctx ends
	// when the manager stops.
	Start func(ctx context.Context, w *Worker) (*mp.Process, error)
	// Restart says when a worker that exited is started again; the default
	// is Permanent. RestartOf, if not nil, says it for each worker (by
	// index) instead, as an OTP supervisor's child specifications do.
	Restart   Restart
	RestartOf func(i int) Restart
	// MaxRestarts and Period are the restart intensity: more than
	// MaxRestarts restarts (of all workers together) within Period stop
	// the manager with ErrRestartIntensity. Defaults: 3 in 5 seconds.
	// A negative MaxRestarts allows none.
	MaxRestarts int
	Period      time.Duration
	// Backoff is the wait before a worker's first restart, doubled for
	// each consecutive one up to MaxBackoff. Defaults: 100 ms and 5 s.
	Backoff, MaxBackoff time.Duration
	// StartConcurrency bounds the starts in progress at once; default 8.
	StartConcurrency int
	// StillAlive is how long the loop may see nothing before it logs
	// "still alive"; zero means 5 seconds, negative never.
	StillAlive time.Duration
	// ShutdownTimeout bounds the stop of every worker when the manager
	// stops; past it, the ones still running are killed. Default 5 s.
	ShutdownTimeout time.Duration
	// Force, when closed while the manager stops (a second Ctrl-C), kills
	// the workers still running at once. Nil: only ShutdownTimeout.
	Force <-chan struct{}

	// OnReady runs when worker w has started (or restarted) and joined
	// the idle pool.
	OnReady func(w *Worker)
	// OnMessage runs for every message a worker sends (Backend.Send), in
	// the order that worker sent them, and all of a process's messages
	// before its exit (OnExit). Messages are not ordered against the end
	// of a task (Task.Done): a message sent during a task may come after
	// it; have the reply carry what Done needs.
	OnMessage func(w *Worker, m mp.Message)
	// OnExit runs when a worker exited without being asked to: e says
	// which, with its PID, its exit status and the task it was running.
	OnExit func(w *Worker, e *ExitReport)

	// Log receives the manager's own lines; nil means mp.NewLogger("manager", mp.Front).
	Log *slog.Logger
	// Progress is where a progress line ("workers ready: 120/1000") is
	// drawn while many workers start, if it is a terminal. Nil means
	// os.Stdout; a writer that is not a terminal gets no progress line.
	Progress io.Writer
}

// Manager runs workers; see the package documentation. Create it with New,
// run it with Run. Only Submit, Watch (before Run) and the accessors of
// Worker are safe to call from other goroutines than the loop's; the
// callbacks in Config run on the loop.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	events  chan event
	quit    chan struct{} // closed when Run is about to return
	workers []*Worker
	idle    []*Worker // first in, first out
	wg      sync.WaitGroup

	mu     sync.Mutex
	queue  []*running // submitted, not yet handed out
	closed bool       // stopping: Submit refuses
	wake   chan struct{}
	ran    bool
	extras []func(ctx context.Context, m *Manager)

	// Loop state.
	live      int       // processes started and not yet seen exit
	starting  int       // starts in flight
	doing     int       // tasks whose Do has not returned
	queued    []*Worker // starts waiting for room, in order
	inflight  int       // starts running
	restarts  []time.Time
	stopping  bool
	err       error
	stopCtx   context.Context // bounds the stop of all workers
	endStop   context.CancelFunc
	killCtx   context.Context    // ends when every stop must skip to SIGKILL
	killAll   context.CancelFunc // ends killCtx: Force, or Run's end
	startCtx  context.Context
	endStarts context.CancelFunc
	progress  *progress
}

// New checks cfg and returns a Manager. It fails with an error wrapping
// ErrConfig when Workers is below 1, Start is nil, or a duration is negative
// where that means nothing.
func New(cfg Config) (*Manager, error) {
	switch {
	case cfg.Workers < 1:
		return nil, fmt.Errorf("%w: %d workers, want at least 1", ErrConfig, cfg.Workers)
	case cfg.Start == nil:
		return nil, fmt.Errorf("%w: no Start function", ErrConfig)
	case cfg.Period < 0, cfg.Backoff < 0, cfg.MaxBackoff < 0, cfg.ShutdownTimeout < 0:
		return nil, fmt.Errorf("%w: negative duration", ErrConfig)
	case cfg.Restart < Permanent || cfg.Restart > Temporary:
		return nil, fmt.Errorf("%w: restart type %d", ErrConfig, cfg.Restart)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.MaxRestarts == 0 {
		cfg.MaxRestarts = 3
	}
	def(&cfg.Period, 5*time.Second)
	def(&cfg.Backoff, 100*time.Millisecond)
	def(&cfg.MaxBackoff, 5*time.Second)
	def(&cfg.StillAlive, 5*time.Second)
	def(&cfg.ShutdownTimeout, 5*time.Second)
	if cfg.StartConcurrency < 1 {
		cfg.StartConcurrency = 8
	}
	if cfg.Name == nil {
		cfg.Name = func(i int) string { return fmt.Sprintf("worker-%d", i+1) }
	}
	if cfg.Log == nil {
		cfg.Log = mp.NewLogger("manager", mp.Front)
	}
	if cfg.Progress == nil {
		cfg.Progress = os.Stdout
	}
	m := &Manager{
		cfg:    cfg,
		log:    cfg.Log,
		events: make(chan event, 256),
		quit:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
	}
	for i := range cfg.Workers {
		w := &Worker{index: i, name: cfg.Name(i), policy: cfg.Restart}
		if cfg.RestartOf != nil {
			w.policy = cfg.RestartOf(i)
		}
		if w.policy < Permanent || w.policy > Temporary {
			return nil, fmt.Errorf("%w: restart type %d for worker %d", ErrConfig, w.policy, i)
		}
		m.workers = append(m.workers, w)
	}
	return m, nil
}

// Workers returns the workers, in the order of their index. The slice is
// the manager's: do not change it.
func (m *Manager) Workers() []*Worker { return m.workers }

// Idle returns how many workers wait for a task. Call it on the loop.
func (m *Manager) Idle() int { return len(m.idle) }

// Run starts the workers and runs the loop until ctx ends or the manager
// fails, then stops every worker and returns once all have exited. It
// returns nil when ctx ended, an error wrapping ErrRestartIntensity when
// workers restarted too often, and the start error when a worker could not
// be started the first time. Run may be called once.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ran {
		m.mu.Unlock()
		return fmt.Errorf("manager: Run called twice")
	}
	m.ran = true
	extras := m.extras
	m.mu.Unlock()

	m.startCtx, m.endStarts = context.WithCancel(context.WithoutCancel(ctx))
	defer m.endStarts()
	m.killCtx, m.killAll = context.WithCancel(context.Background())
	defer m.killAll()
	for _, w := range extras {
		m.wg.Add(1)
		go func() { defer m.wg.Done(); w(m.startCtx, m) }()
	}
	m.progress = newProgress(m.cfg.Progress, len(m.workers))
	m.log.Debug(fmt.Sprintf("starting %d workers, %d at a time", len(m.workers), m.cfg.StartConcurrency))
	for _, w := range m.workers {
		m.start(w)
	}

	quiet := time.NewTimer(m.cfg.StillAlive)
	defer quiet.Stop()
	if m.cfg.StillAlive < 0 {
		quiet.Stop()
	}
	done := ctx.Done()
	for !m.stopping || m.live > 0 || m.starting > 0 || m.doing > 0 {
		m.dispatch()
		var force <-chan struct{}
		if m.stopping {
			force = m.cfg.Force
		}
		select {
		case ev := <-m.events:
			m.handle(ev)
		case <-m.wake:
		case <-done:
			done = nil
			m.stop(nil)
		case <-force:
			m.log.Warn("forced stop: killing the workers still running")
			m.killAll()
			m.cfg.Force = nil
		case <-quiet.C:
			m.log.Info(m.stillAlive())
		}
		if m.cfg.StillAlive > 0 {
			quiet.Reset(m.cfg.StillAlive)
		}
	}
	m.progress.finish()
	m.endStop()
	m.failQueued()
	close(m.quit)
	m.wg.Wait()
	return m.err
}

func (m *Manager) stillAlive() string {
	busy := 0
	for _, w := range m.workers {
		if w.task != nil {
			busy++
		}
	}
	m.mu.Lock()
	queued := len(m.queue)
	m.mu.Unlock()
	return fmt.Sprintf("still alive: %d workers running, %d idle, %d busy, %d tasks queued", m.live, len(m.idle), busy, queued)
}

// stop begins the shutdown: no more starts or tasks; every worker is
// stopped in parallel within ShutdownTimeout. err becomes Run's result.
func (m *Manager) stop(err error) {
	if m.stopping {
		return
	}
	m.stopping, m.err = true, err
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.endStarts()
	m.cancelRestarts()
	m.starting -= len(m.queued) // never to run
	m.queued = nil
	m.stopCtx, m.endStop = context.WithTimeout(m.killCtx, m.cfg.ShutdownTimeout)
	m.log.Info(fmt.Sprintf("stopping %d workers", m.live))
	for _, w := range m.workers {
		if w.proc != nil {
			m.shutdown(w)
		}
		if w.task != nil {
			m.terminate(w) // a running task is cancelled, not awaited
		}
	}
	m.idle = nil
}

// shutdown stops w's process in the background; its exit comes back to the
// loop like any other.
func (m *Manager) shutdown(w *Worker) {
	if w.stopping {
		return
	}
	w.stopping = true
	// The stop of all workers has one deadline; a worker replaced during
	// the run has its own. Both end at once on a forced stop.
	p, ctx, cancel := w.proc, m.stopCtx, context.CancelFunc(func() {})
	if ctx == nil {
		ctx, cancel = context.WithTimeout(m.killCtx, m.cfg.ShutdownTimeout)
	}
	m.wg.Add(1)
	go func() { defer m.wg.Done(); defer cancel(); p.Shutdown(ctx) }()
}

// send delivers ev to the loop, unless Run has returned.
func (m *Manager) send(ev event) {
	select {
	case m.events <- ev:
	case <-m.quit:
	}
}

// Watch adds channel ch to the manager's loop: each value received on it is
// passed to f, on the loop, like the workers' messages. It stops watching
// when ch is closed or the manager stops. Call it before Run. (A listener,
// an eventfd or a timer of the program joins the loop this way.)
func Watch[T any](m *Manager, ch <-chan T, f func(T)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extras = append(m.extras, func(ctx context.Context, m *Manager) {
		for {
			select {
			case v, ok := <-ch:
				if !ok {
					return
				}
				m.send(event{kind: evFunc, fn: func() { f(v) }})
			case <-ctx.Done():
				return
			}
		}
	})
}
