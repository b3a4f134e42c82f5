// Chapter 10, extrafd: the manager's loop listens to more than its workers.
//
// The original tutorial ends its manager chapter with an idea it never runs:
// add one more file descriptor to the list that select(2) waits on, a socket
// or a device, and the same loop serves it. In Go the loop is a select over
// channels, so any source joins it the same way: a goroutine turns the file
// descriptor into a channel, and manager.Watch adds the channel to the loop.
// Here the manager of main1 also serves a TCP port on 127.0.0.1, speaking
// one-line commands, and counts the ticks of a "sensor", a backend that
// stands for native code or a device and signals through an eventfd. Every
// callback runs on the manager's one loop: the program's state has no lock.
//
// Run it with: go run ./part3/extrafd, then, from another terminal:
// go run ./part3/extrafd -client 127.0.0.1:<port> status 'work 5' wait status quit
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
	"golang.org/x/sys/unix"
)

// The workers: each task takes a while and says which process ran it.
type Job struct{ Millis int }

// Result is the worker's reply to "work".
type Result struct{ Pid int }

var work = mp.NewCommand[Job, Result]("work")

type worker struct{ *mp.Backend }

func (w *worker) doWork(ctx context.Context, j Job) (Result, error) {
	select {
	case <-time.After(time.Duration(j.Millis) * time.Millisecond):
		return Result{Pid: os.Getpid()}, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

var workers = mp.NewKind("Worker", func(b *mp.Backend) *worker { return &worker{Backend: b} })

func init() { mp.HandleCommand(workers, work, (*worker).doWork) }

// The sensor, a backend that stands for a device, and the eventfd it
// ticks, read by readTicks: sensor.go. One client's connection: conn.go.

func main() {
	mp.Init()
	cfg, err := parseFlags(os.Args[1:])
	story.ExitOnFlagError(err) // -h: status 0; a usage error: 2, nothing started
	//docs:skip
	if cfg.client != "" {
		os.Exit(runClient(cfg.client, cfg.lines, os.Stdin, os.Stdout))
	}
	//docs:end
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

// request is one line from a client, and where its one-line answer goes.
type request struct {
	line  string
	from  string
	reply chan<- string // buffered: the loop never waits for a client
}

// state is the program's state. Only the manager's loop touches it (every
// method below is a callback of the loop): no lock.
type state struct {
	m                    *manager.Manager
	log                  *slog.Logger
	quit                 context.CancelFunc
	submitted, done, bad int
	waiting              []chan<- string // "wait" answered when all tasks end
	ticks                uint64
	sensorPid, restarts  int
	sensorSeen           bool
	taskMillis           int
}

// maxWork bounds the tasks of one "work" command.
const maxWork = 10000

// command answers one line from a client, on the loop.
func (s *state) command(r request) {
	cmd, arg, _ := strings.Cut(strings.TrimSpace(r.line), " ")
	arg = strings.TrimSpace(arg)
	if cmd != "work" && arg != "" {
		r.reply <- fmt.Sprintf("error: %s takes no argument; try help", cmd)
		return
	}
	switch cmd {
	case "help":
		r.reply <- fmt.Sprintf("commands: status, work N (1 to %d tasks), wait (until every task has ended), quit, help", maxWork)
	case "status":
		r.reply <- s.status()
	case "work":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > maxWork {
			r.reply <- fmt.Sprintf("error: work wants a number of tasks from 1 to %d, got %q", maxWork, arg)
			return
		}
		first := s.submitted + 1
		for range n {
			s.submit()
		}
		r.reply <- fmt.Sprintf("queued %d tasks: task-%d to task-%d", n, first, s.submitted)
	case "wait":
		s.waiting = append(s.waiting, r.reply)
		s.answerWaiting()
	case "quit":
		s.log.Info(fmt.Sprintf("quit from %s: stopping", r.from))
		r.reply <- "bye"
		s.quit()
	case "":
		r.reply <- "error: empty line; try help"
	default:
		r.reply <- fmt.Sprintf("error: unknown command %q; try help", cmd)
	}
}

// status says what the loop knows, in one line.
func (s *state) status() string {
	var idle, busy, restarting int
	for _, w := range s.m.Workers() {
		switch w.State() {
		case manager.Idle:
			idle++
		case manager.Busy:
			busy++
		default:
			restarting++
		}
	}
	return fmt.Sprintf("workers: %d idle, %d busy, %d restarting; tasks: %d done, %d failed, %d queued; sensor: pid %d, %s, %s",
		idle, busy, restarting, s.done, s.bad, s.m.Queued(), s.sensorPid, story.Count(int(s.ticks), "tick"), story.Count(int(s.restarts), "restart"))
}

// submit queues one task; its Done runs on the loop too.
func (s *state) submit() {
	s.submitted++
	name, millis := fmt.Sprintf("task-%d", s.submitted), s.taskMillis
	err := s.m.Submit(manager.Task{
		Name:    name,
		Timeout: taskTimeout,
		Do: func(ctx context.Context, w *manager.Worker, p *mp.Process) error {
			_, err := work.Call(ctx, p, Job{Millis: millis})
			return err
		},
		Done: func(w *manager.Worker, err error) {
			if err != nil {
				s.bad++
				if !errors.Is(err, mp.ErrStopped) {
					s.log.Warn(err.Error())
				}
			} else {
				s.done++
			}
			s.answerWaiting()
		},
	})
	if err != nil {
		s.bad++ // the manager is stopping
	}
}

// answerWaiting answers the "wait"s once every submitted task has ended.
func (s *state) answerWaiting() {
	if s.done+s.bad < s.submitted {
		return
	}
	for _, reply := range s.waiting {
		reply <- fmt.Sprintf("all %d tasks ended: %d done, %d failed", s.submitted, s.done, s.bad)
	}
	s.waiting = nil
}

func run(ctx context.Context, force <-chan struct{}, cfg config, log *slog.Logger) error {
	ctx, quit := context.WithCancel(ctx)
	defer quit()
	// What run starts ends before it returns: the goroutines of the
	// listener, the connections and the eventfd's reader.
	var wg sync.WaitGroup
	defer wg.Wait()

	// The listener is opened before anything starts, on the loopback
	// interface only: commands that start work are not for the network.
	ln, err := cfg.listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.port)))
	if err != nil {
		return err
	}
	defer ln.Close()

	// The eventfd: a counter in the kernel that the sensor adds to and the
	// frontend reads (and resets) 8 bytes at a time. Made non-blocking, it
	// goes through the Go runtime's poller like a socket: its reader parks
	// without a thread, and Close ends the read.
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	events := os.NewFile(uintptr(efd), "sensor-eventfd")
	defer events.Close()

	s := &state{log: log, quit: quit, taskMillis: cfg.taskMillis}
	// Once every worker is ready and the first tick has come through the
	// eventfd, the program says where it listens.
	ready, announced := 0, false
	//docs:skip
	var demo func()
	var addrErr error
	//docs:end
	announce := func() {
		if announced || ready < cfg.workers || s.ticks == 0 {
			return
		}
		announced = true
		log.Info(fmt.Sprintf("all %d workers ready, the sensor ticks; commands on %s", cfg.workers, ln.Addr()))
		//docs:skip
		if demo != nil {
			demo()
		}
		if err := writeAddr(cfg.addrFile, ln.Addr().String()); err != nil {
			addrErr = err // a script waits for this file: stop, and say why
			quit()
		}
		if cfg.onReady != nil {
			cfg.onReady(ln.Addr().String())
		}
		//docs:end
	}
	s.m, err = manager.New(manager.Config{
		Workers: cfg.workers,
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return workers.Start(ctx, mp.Options{Name: w.Name(), Env: []string{"GOMAXPROCS=1"}})
		},
		OnReady: func(w *manager.Worker) {
			ready++
			announce()
		},
		MaxRestarts:     3,
		StillAlive:      -1,
		ShutdownTimeout: cfg.shutdownTimeout,
		Force:           force,
		Log:             log,
	})
	if err != nil {
		return err
	}

	// Every source below joins the loop the same way: a channel, and
	// manager.Watch(m, ch, f), after which f runs on the loop for each
	// value. A signal (signal.Notify's channel) or a timer (a Ticker's C)
	// would join exactly so; the manager already watches SIGINT and
	// SIGTERM through Run's context.
	//
	// Source 1, a socket. One goroutine accepts, one per connection reads
	// lines; each line becomes a request on a channel that the loop
	// watches. The loop answers on the request's own buffered channel, so
	// a slow client only ever holds its own goroutine.
	// The connections live until the loop has ended (not just until it
	// was asked to), so that answers decided while it stops still go out:
	// "bye" to quit, the end of a "wait" whose tasks the stop cancelled.
	requests := make(chan request)
	if err := manager.Watch(s.m, requests, s.command); err != nil {
		return err
	}
	connCtx, endConns := context.WithCancel(context.WithoutCancel(ctx))
	defer endConns()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed: the program is ending
			}
			wg.Add(1)
			go func() { defer wg.Done(); serve(connCtx, c, requests, cfg) }()
		}
	}()

	// Source 2, the eventfd. Its reader hands each count to the loop.
	ticks := make(chan uint64)
	if err := manager.Watch(s.m, ticks, func(n uint64) { s.ticks += n; announce() }); err != nil {
		return err
	}
	wg.Add(1)
	go func() { defer wg.Done(); readTicks(ctx, events, ticks) }()

	// Source 3, the sensor's life. The sensor is supervised like any worker
	// (restarted after a crash, with a backoff and a limit), by a manager of
	// its own: it takes no tasks, so it is not in the pool. That manager's
	// callbacks only report to the main loop, through one more channel.
	sensorEvents := make(chan sensorEvent)
	tell := func(e sensorEvent) {
		select {
		case sensorEvents <- e:
		case <-ctx.Done():
		}
	}
	if err := manager.Watch(s.m, sensorEvents, s.sensorChanged); err != nil {
		return err
	}
	supervisor, err := manager.New(manager.Config{
		Workers: 1,
		Name:    func(int) string { return "sensor" },
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return sensors.Start(ctx, mp.Options{
				Name:   "sensor",
				Params: mp.Params{"rate": cfg.sensorRate},
				Files:  []*os.File{events},
				Env:    []string{"GOMAXPROCS=1"},
			})
		},
		OnReady:         func(w *manager.Worker) { tell(sensorEvent{pid: w.Process().Pid()}) },
		OnExit:          func(w *manager.Worker, e *manager.ExitReport) { tell(sensorEvent{exit: e.String()}) },
		MaxRestarts:     3,
		Backoff:         cfg.sensorBackoff,
		MaxBackoff:      max(cfg.sensorBackoff, 5*time.Second),
		StillAlive:      -1,
		ShutdownTimeout: cfg.shutdownTimeout,
		Force:           force,
		Log:             mplog.New("sensor-supervisor", mplog.Front),
	})
	if err != nil {
		return err
	}
	//docs:skip
	if cfg.demo {
		demo = func() {
			wg.Add(1)
			go func() { defer wg.Done(); runDemo(ctx, ln.Addr().String(), quit, mplog.New("client", mplog.Front)) }()
		}
	}
	//docs:end

	// The sensor runs until the workers have stopped; if it fails too often,
	// everything stops.
	sensorCtx, stopSensor := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSensor()
	sensorErr := make(chan error, 1)
	go func() {
		err := supervisor.Run(sensorCtx)
		if err != nil {
			quit()
		}
		sensorErr <- err
	}()
	log.Info(fmt.Sprintf("starting %d workers and the sensor", cfg.workers))
	err = s.m.Run(ctx)
	quit()
	ln.Close()
	endConns()
	stopSensor()
	err = errors.Join(err, <-sensorErr)
	err = errors.Join(err, addrErr) //docs:skip
	log.Info(fmt.Sprintf("all workers stopped; %d tasks done, %s", s.done, story.Count(int(s.ticks), "sensor tick")))
	return err
}
