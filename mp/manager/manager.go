package manager

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpgo/mp/internal/mplog"
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
	// typically a Kind's Start with Options.Name set to w.Name(). ctx
	// bounds the start (StartTimeout, or the manager's stop); the manager
	// stops the process itself.
	Start func(ctx context.Context, w *Worker) (*mp.Process, error)
	// Restart says when a worker that exited is started again; the default
	// is Permanent. RestartOf, if not nil, says it for each worker (by
	// index) instead, as an OTP supervisor's child specifications do.
	Restart   Restart
	RestartOf func(i int) Restart
	// MaxRestarts and Period are the restart intensity: more than
	// MaxRestarts failures (of all workers together) within Period stop
	// the manager with ErrRestartIntensity. Zero allows none: the first
	// failure stops the manager. Only failures count (a crash, a kill, an
	// exit without saying why, a restart that failed); a worker that ended
	// itself or that the manager stopped is replaced without counting.
	// Period defaults to 5 seconds.
	MaxRestarts int
	Period      time.Duration
	// Backoff is the wait before a worker's first restart, doubled for
	// each consecutive one up to MaxBackoff. Defaults: 100 ms and 5 s.
	Backoff, MaxBackoff time.Duration
	// StartConcurrency bounds the starts in progress at once; default 8.
	StartConcurrency int
	// StartTimeout bounds each start: the ctx given to Start ends after
	// it, with a cause wrapping ErrStartTimeout. A first start that fails
	// stops the manager; a restart that fails counts as a failure.
	// Default 30 s.
	StartTimeout time.Duration
	// StillAlive is how long the loop may see nothing before it logs
	// "still alive", and how long a worker's messages may wait for a
	// loop blocked in a callback before a warning says so; zero means 5
	// seconds, negative never.
	StillAlive time.Duration
	// ShutdownTimeout bounds the stop of every worker when the manager
	// stops, and the delivery of the messages they sent before it; past
	// it, the workers still running are killed and the messages not yet
	// delivered are dropped. Default 5 s.
	ShutdownTimeout time.Duration
	// Force, when closed while the manager stops (a second Ctrl-C), kills
	// the workers still running at once and drops the messages not yet
	// delivered. Nil: only ShutdownTimeout.
	Force <-chan struct{}

	// The callbacks run on the loop, one at a time; while one runs, the
	// loop takes no worker's messages. A callback must not wait for a
	// worker (a Call): if that worker sends meanwhile, its Send waits for
	// the loop and the Call waits forever. Call from a goroutine of your
	// own and bring the answer back with Watch. A panic in a callback
	// (or in a Task's Done, or a Watch function) is not recovered, unlike
	// one in a Task's Do: it ends the program, as a panic in any goroutine
	// does, since the state the callbacks share with the program can no
	// longer be trusted; the workers then stop on the parent-death signal
	// (see package mp).

	// OnReady runs when worker w has started (or restarted) and joined
	// the idle pool.
	OnReady func(w *Worker)
	// OnMessage runs for every message a worker sends (Backend.Send), in
	// the order that worker sent them, and all of a process's messages
	// before its exit (OnExit). Messages are not ordered against the end
	// of a task (Task.Done): a message sent during a task may come after
	// it; have the reply carry what Done needs. Once the manager stops,
	// messages still reach OnMessage until the stop's deadline
	// (ShutdownTimeout) passes or Force is closed; the rest are dropped,
	// and a warning says how many (see Run).
	OnMessage func(w *Worker, m mp.Message)
	// OnExit runs when a worker's process exited without the manager
	// stopping it (during its stop, only if it failed): e says which, how,
	// its task, whether it is a failure and whether it will be restarted.
	OnExit func(w *Worker, e *ExitReport)

	// Log receives the manager's own lines; nil means lines starting
	// "manager [front]" on os.Stdout, at the level MP_LOG_LEVEL sets.
	Log *slog.Logger
	// Progress is where a progress line ("workers ready: 120/1000") is
	// drawn while many workers start, if it is a terminal. Nil means
	// os.Stdout; a writer that is not a terminal gets no progress line.
	Progress io.Writer
}

// Manager runs workers; see the package documentation. Create it with New,
// run it with Run. Submit, Queued, Idle, Busy, Watch, Workers and the
// methods of Worker are safe to call from any goroutine; the callbacks in
// Config run on the loop, one at a time.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	events  chan event
	quit    chan struct{} // closed when Run is about to return
	workers []*Worker
	counts  [nStates]atomic.Int32 // workers by state
	wg      sync.WaitGroup        // goroutines Run waits for

	mu      sync.Mutex // guards what follows, up to the loop's state
	queue   []*running // submitted, not yet handed out
	closed  bool       // stopping: Submit and Watch refuse
	noWork  bool       // no worker is left, and none will start: Submit refuses
	running bool       // Run has started the watchers
	wake    chan struct{}
	ran     bool
	extras  []func(ctx context.Context)

	// The loop's state: only Run's goroutine touches it.
	idle     []*Worker             // first in, first out
	live     int                   // processes started and not yet seen exit
	starting int                   // starts queued, in flight, or waiting for a backoff
	doing    map[*running]struct{} // tasks whose Do has not returned
	queued   []*Worker             // starts waiting for room, in order
	inflight int                   // starts running
	failures []time.Time
	stopping bool
	abandon  bool // stop waiting for Do functions (see Task.Done)
	err      error
	runCtx   context.Context // Run's ctx
	workCtx  context.Context // ends when the manager stops: starts, tasks, watchers
	endWork  context.CancelFunc
	stopCtx  context.Context // bounds the stop of all workers
	endStop  context.CancelFunc
	killCtx  context.Context    // ends when every stop must skip to SIGKILL
	killAll  context.CancelFunc // ends killCtx: Force, or Run's end
	forced   bool               // Force was closed
	progress *progress

	// Messages dropped because the stop's deadline passed before
	// OnMessage took them (deliver.go), and whose they were; values of
	// watched channels dropped so, before their function took them.
	dropped       int
	droppedFrom   map[*Worker]bool
	droppedValues int

	// callbacks numbers the callbacks the loop has run; inCallback holds
	// the number of the one running now, 0 between callbacks (blocked.go).
	callbacks  uint64
	inCallback atomic.Uint64
}

// New checks cfg and returns a Manager. It fails with an error wrapping
// ErrConfig when Workers is below 1, Start is nil, or a duration is negative
// where that means nothing.
func New(cfg Config) (*Manager, error) {
	switch {
	case cfg.Workers < 1:
		return nil, fmt.Errorf("manager: %w: %d workers, want at least 1", ErrConfig, cfg.Workers)
	case cfg.Start == nil:
		return nil, fmt.Errorf("manager: %w: no Start function", ErrConfig)
	case cfg.Period < 0, cfg.Backoff < 0, cfg.MaxBackoff < 0, cfg.ShutdownTimeout < 0, cfg.StartTimeout < 0:
		return nil, fmt.Errorf("manager: %w: negative duration", ErrConfig)
	case cfg.MaxRestarts < 0:
		return nil, fmt.Errorf("manager: %w: MaxRestarts %d is negative (0 allows none)", ErrConfig, cfg.MaxRestarts)
	case cfg.Restart < Permanent || cfg.Restart > Temporary:
		return nil, fmt.Errorf("manager: %w: restart type %d", ErrConfig, cfg.Restart)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.Period, 5*time.Second)
	def(&cfg.Backoff, 100*time.Millisecond)
	def(&cfg.MaxBackoff, 5*time.Second)
	def(&cfg.StillAlive, 5*time.Second)
	def(&cfg.ShutdownTimeout, 5*time.Second)
	def(&cfg.StartTimeout, 30*time.Second)
	if cfg.StartConcurrency < 1 {
		cfg.StartConcurrency = 8
	}
	if cfg.Name == nil {
		cfg.Name = func(i int) string { return fmt.Sprintf("worker-%d", i+1) }
	}
	if cfg.Log == nil {
		cfg.Log = mplog.New("manager", mplog.Front)
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
		doing:  map[*running]struct{}{},
	}
	for i := range cfg.Workers {
		w := &Worker{index: i, name: cfg.Name(i), policy: cfg.Restart}
		if cfg.RestartOf != nil {
			w.policy = cfg.RestartOf(i)
		}
		if w.policy < Permanent || w.policy > Temporary {
			return nil, fmt.Errorf("manager: %w: restart type %d for worker %d", ErrConfig, w.policy, i)
		}
		m.workers = append(m.workers, w)
	}
	m.counts[Starting].Store(int32(len(m.workers)))
	return m, nil
}

// Workers returns the workers, in the order of their index. The slice is
// the manager's: do not change it.
func (m *Manager) Workers() []*Worker { return m.workers }

// Idle returns how many workers wait for a task.
func (m *Manager) Idle() int { return int(m.counts[Idle].Load()) }

// Busy returns how many workers run a task.
func (m *Manager) Busy() int { return int(m.counts[Busy].Load()) }

// Run starts the workers and runs the loop until ctx ends or the manager
// fails, then stops every worker and returns once all have exited. It
// returns nil when ctx ended, an error wrapping ErrRestartIntensity when
// workers failed too often, and the start error when a worker could not
// be started the first time. Run may be called once.
//
// The stop is bounded. Messages the workers sent before they exited still
// reach OnMessage, in order, until ShutdownTimeout has passed since the
// stop began or Force is closed; then those not yet delivered are dropped
// and one warning says how many, so that a flood of messages behind slow
// callbacks cannot hold Run. The values of watched channels (Watch) waiting
// for the loop go the same way. Run returns within about twice
// ShutdownTimeout of the stop's start (the workers' stop, then the Do
// functions still running), plus the callback that runs at that moment;
// once Force is closed, as soon as the workers are gone. The Done functions
// of the tasks still queued are not bounded so: the stop calls each of them
// at once, with mp.ErrStopped (see Task.Done), and Run waits for them.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ran {
		m.mu.Unlock()
		return fmt.Errorf("manager: Run called twice")
	}
	m.ran = true
	m.runCtx = ctx
	m.workCtx, m.endWork = context.WithCancel(context.WithoutCancel(ctx))
	for _, watch := range m.extras {
		m.goWatch(watch)
	}
	m.running = true
	m.mu.Unlock()
	defer m.endWork()
	m.killCtx, m.killAll = context.WithCancel(context.Background())
	defer m.killAll()
	m.progress = newProgress(m.cfg.Progress, len(m.workers))
	m.log.Debug(fmt.Sprintf("starting %s, %d at a time", workers(len(m.workers)), m.cfg.StartConcurrency))
	for _, w := range m.workers {
		m.start(w)
	}
	quiet := time.NewTimer(m.cfg.StillAlive)
	defer quiet.Stop()
	if m.cfg.StillAlive < 0 {
		quiet.Stop()
	}
	var giveUp <-chan time.Time // the bound on Do functions still running
	done := ctx.Done()
	for !m.stopping || m.live > 0 || m.starting > 0 || (len(m.doing) > 0 && !m.abandon) {
		m.dispatch()
		var force <-chan struct{}
		if m.stopping {
			force = m.cfg.Force
			if m.live == 0 && m.starting == 0 && giveUp == nil {
				// Do functions are left: ones that return on their
				// ctx (their events may still be on the way: a debug
				// line, so that an orderly stop's output does not
				// depend on which event comes first), or ones that
				// ignore it (giveUp warns, naming them).
				m.log.Debug(fmt.Sprintf("all workers stopped; waiting up to %v for the Do of %s to return", m.cfg.ShutdownTimeout, m.waitingFor()))
				giveUp = time.After(m.cfg.ShutdownTimeout)
			}
		}
		select {
		case ev := <-m.events:
			m.handle(ev)
		case <-m.wake:
		case <-done:
			done = nil
			m.stop(nil)
		case <-force:
			m.forceStop()
		case <-giveUp:
			m.giveUp()
		case <-quiet.C:
			m.log.Info(m.stillAlive())
		}
		if m.cfg.StillAlive > 0 {
			quiet.Reset(m.cfg.StillAlive)
		}
	}
	m.progress.finish()
	m.reportDropped()
	m.endStop()
	m.failQueued(mp.ErrStopped)
	close(m.quit)
	m.wg.Wait()
	return m.err
}

func (m *Manager) stillAlive() string {
	s := fmt.Sprintf("still alive: %s running, %d idle, %d busy, %d tasks queued",
		workers(m.live), m.Idle(), m.Busy(), m.Queued())
	var slow []string
	for _, w := range m.workers {
		if w.State() == Starting && w.restart == nil && time.Since(w.since) >= m.cfg.StillAlive {
			slow = append(slow, fmt.Sprintf("%s for %v", w.name, time.Since(w.since).Round(time.Second)))
		}
	}
	if len(slow) > 0 {
		if len(slow) > 5 {
			slow = append(slow[:5], fmt.Sprintf("%d more", len(slow)-5))
		}
		s += "; starting: " + strings.Join(slow, ", ")
	}
	return s
}

// workers says "1 worker" or "n workers", for the log.
func workers(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}

// send delivers ev to the loop, unless Run has returned.
func (m *Manager) send(ev event) {
	select {
	case m.events <- ev:
	case <-m.quit:
	}
}
