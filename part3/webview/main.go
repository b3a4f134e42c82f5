// Chapter 11, webview: worker messages drive another event loop, a web page.
//
// The original tutorial's last section turns worker messages into Qt
// signals, so that a GUI's event loop can show them. In Go the natural GUI
// is a local web page: the manager serves it on 127.0.0.1, and its loop,
// which alone knows the workers' states, publishes them ten times a second
// at most as server-sent events. Each page gets the whole grid when it
// connects, then only what changed; a slow page gets fewer, fuller updates
// and never slows the loop. Buttons send work, kill a worker (watch it
// restart with a new PID) and stop the manager. /metrics gives the same
// numbers to Prometheus, /healthz to a supervisor.
//
// Run it with: go run ./part3/webview, and open the address it prints.
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// The workers: a task takes a while, and the worker reports when it starts
// (a message, as any worker may send; the page does not need it, the
// metrics count it).
type Job struct{ Millis int }

// Result is the worker's reply to "work".
type Result struct{ Pid int }

// Started is what a worker reports when it begins a task.
type Started struct{ Pid int }

var (
	work    = mp.NewCommand[Job, Result]("work")
	started = mp.NewReport[Started]("started")
)

type worker struct{ *mp.Backend }

func (w *worker) doWork(ctx context.Context, j Job) (Result, error) {
	started.Send(ctx, w.Backend, Started{Pid: os.Getpid()})
	select {
	case <-time.After(time.Duration(j.Millis) * time.Millisecond):
		return Result{Pid: os.Getpid()}, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

var workers = mp.NewKind("Worker", func(b *mp.Backend) *worker { return &worker{Backend: b} })

func init() { mp.HandleCommand(workers, work, (*worker).doWork) }

// The HTTP side (the routes, the event stream of each page, what a frame
// changes): server.go. The metrics: metrics.go.

// The page: plain HTML and JavaScript, compiled into the binary. No build
// step, no CDN: it works offline.
//
//go:embed page
var page embed.FS

func main() {
	mp.Init()
	cfg, err := parseFlags(os.Args[1:])
	story.ExitOnFlagError(err) // -h: status 0; a usage error: 2, nothing started
	log := mplog.New("main", mplog.Front)
	ctx, force, stop := manager.Signals(context.Background())
	defer stop()
	ctx, stopWatching := story.UntilStdoutCloses(ctx)
	defer stopWatching()
	if err := run(ctx, force, cfg, log); err != nil || ctx.Err() != nil {
		story.Exit(ctx, log, err)
	}
	log.Info("bye")
}

// cell is one worker as the page shows it.
type cell struct {
	State string `json:"state"`
	Pid   int    `json:"pid"`
	Done  int    `json:"done"`
}

// frame is the state of every worker at one moment. The loop makes a new
// one for each update and never changes it afterwards, so any goroutine
// may read it without a lock.
type frame struct {
	Seq              int
	Cells            []cell
	Done, Bad, Queue int
}

// state is the program's state: only the manager's loop touches it.
type state struct {
	m       *manager.Manager
	log     *slog.Logger
	quit    context.CancelFunc
	cfg     config
	rng     *rand.Rand
	done    []int // tasks done, by worker index
	ok, bad int
	tasks   int
	last    *frame
	dirty   bool
	pages   map[chan *frame]struct{} // open event streams
	metrics *metrics
}

// snapshot makes the next frame, if anything changed since the last one.
func (s *state) snapshot() *frame {
	f := &frame{Seq: 1, Cells: make([]cell, len(s.m.Workers())), Done: s.ok, Bad: s.bad, Queue: s.m.Queued()}
	if s.last != nil {
		f.Seq = s.last.Seq + 1
	}
	counts := map[manager.State]int{}
	for i, w := range s.m.Workers() {
		st := w.State()
		counts[st]++
		f.Cells[i] = cell{State: st.String(), Done: s.done[i]}
		if p := w.Process(); p != nil {
			f.Cells[i].Pid = p.Pid()
		}
	}
	s.metrics.setStates(counts)
	if s.last != nil && !s.dirty && sameCells(s.last, f) {
		return nil
	}
	s.dirty = false
	return f
}

// publish runs on the loop at most -fps times a second: it hands the
// newest frame to every open page. A page's channel holds one frame; if
// the page has not taken the previous one yet (a slow connection), the new
// one replaces it. The loop never waits for a page.
func (s *state) publish() {
	f := s.snapshot()
	if f == nil {
		return
	}
	s.last = f
	for ch := range s.pages {
		select {
		case <-ch: // not taken yet: drop it, the new one says more
		default:
		}
		ch <- f
	}
}

// subscribe and unsubscribe run on the loop, for the event streams. A new
// page gets the current frame at once.
func (s *state) subscribe(ch chan *frame) {
	s.pages[ch] = struct{}{}
	if s.last == nil {
		s.last = s.snapshot()
	}
	ch <- s.last
}

func (s *state) unsubscribe(ch chan *frame) { delete(s.pages, ch) }

// submit queues n tasks.
func (s *state) submit(n int) string {
	for range n {
		s.tasks++
		name, millis := fmt.Sprintf("task-%d", s.tasks), s.cfg.taskMillis
		var began time.Time
		err := s.m.Submit(manager.Task{
			Name:    name,
			Timeout: taskTimeout,
			Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
				began = time.Now()
				s.metrics.started.Inc()
				_, err := work.Call(ctx, p, Job{Millis: millis})
				return err
			},
			Done: func(w *manager.Worker, err error) {
				s.dirty = true
				switch {
				case err == nil:
					s.ok++
					s.done[w.Index()]++
					s.metrics.succeeded.Inc()
					s.metrics.duration.Observe(time.Since(began).Seconds())
				case errors.Is(err, manager.ErrTaskTimeout):
					s.bad++
					s.metrics.timedOut.Inc()
				default:
					s.bad++
					s.metrics.failed.Inc()
				}
			},
		})
		if err != nil {
			return "stopping: " + err.Error()
		}
	}
	return fmt.Sprintf("queued %d tasks", n)
}

// kill sends SIGKILL to a random worker that has a process: its
// supervisor (the manager) sees it die and restarts it.
func (s *state) kill() string {
	var alive []*manager.Worker
	for _, w := range s.m.Workers() {
		if w.Process() != nil {
			alive = append(alive, w)
		}
	}
	if len(alive) == 0 {
		return "no worker to kill"
	}
	w := alive[s.rng.IntN(len(alive))]
	p := w.Process()
	p.Signal(syscall.SIGKILL)
	s.log.Info(fmt.Sprintf("killed %s (pid %d) from the page", w.Name(), p.Pid()))
	return fmt.Sprintf("killed %s (pid %d)", w.Name(), p.Pid())
}

func run(ctx context.Context, force <-chan struct{}, cfg config, log *slog.Logger) error {
	ctx, quit := context.WithCancel(ctx)
	defer quit()

	// 127.0.0.1 only: the page's buttons start and kill processes.
	ln, err := cfg.listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.port)))
	if err != nil {
		return err
	}
	s := &state{log: log, quit: quit, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.seed, 0)),
		done: make([]int, cfg.workers), pages: map[chan *frame]struct{}{}, metrics: newMetrics()}
	ready := 0
	var announceErr error //docs:skip
	s.m, err = manager.New(manager.Config{
		Workers: cfg.workers,
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return workers.Start(ctx, mp.Options{Name: w.Name(), Env: []string{"GOMAXPROCS=1"}})
		},
		OnReady: func(w *manager.Worker) {
			s.dirty = true
			if ready++; ready == cfg.workers {
				log.Info(fmt.Sprintf("all %d workers ready; open http://%s/", cfg.workers, ln.Addr()))
				//docs:skip
				if err := cfg.announce(ctx, ln.Addr().String(), quit); err != nil {
					announceErr = err
					quit()
				}
				//docs:end
			}
		},
		OnMessage: func(w *manager.Worker, m mp.Message) { s.metrics.messages.Inc() },
		OnExit: func(w *manager.Worker, e *manager.ExitReport) {
			s.dirty = true
			if e.Restart {
				s.metrics.restarts.Inc()
			}
		},
		MaxRestarts:     cfg.maxRestarts,
		StillAlive:      -1,
		ShutdownTimeout: cfg.shutdownTimeout,
		Force:           force,
		Log:             log,
	})
	if err != nil {
		ln.Close()
		return err
	}

	// Three sources join the loop: a clock (updates at most -fps a
	// second), the event streams opening and closing, and the buttons'
	// actions. Each is a channel; the HTTP handlers' goroutines only pass
	// values through them, and wait for an answer on a channel of their own.
	tick := time.NewTicker(time.Second / time.Duration(cfg.fps))
	defer tick.Stop()
	subs, unsubs := make(chan chan *frame), make(chan chan *frame)
	actions := make(chan func())
	for _, err := range []error{
		manager.Watch(s.m, tick.C, func(time.Time) { s.publish() }),
		manager.Watch(s.m, subs, s.subscribe),
		manager.Watch(s.m, unsubs, s.unsubscribe),
		manager.Watch(s.m, actions, func(f func()) { f() }),
	} {
		if err != nil {
			ln.Close()
			return err
		}
	}
	// onLoop runs f on the loop and returns its answer, or false if the
	// loop has ended or does not answer within a second.
	onLoop := func(ctx context.Context, f func() string) (string, bool) {
		answer := make(chan string, 1)
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		select {
		case actions <- func() { answer <- f() }:
		case <-ctx.Done():
			return "", false
		}
		select {
		case a := <-answer:
			return a, true
		case <-ctx.Done():
			return "", false
		}
	}

	// The streams end when the loop has ended, before the server shuts
	// down: an open stream would hold Shutdown for its whole timeout.
	streamsEnd := make(chan struct{})
	srv := &http.Server{Handler: s.routes(onLoop, subs, unsubs, streamsEnd), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	log.Info(fmt.Sprintf("starting %d workers", cfg.workers))
	err = s.m.Run(ctx)
	err = errors.Join(err, announceErr) //docs:skip
	close(streamsEnd)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, srv.Shutdown(sctx))
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	log.Info(fmt.Sprintf("all workers stopped; %d tasks done", s.ok))
	return err
}
