// Chapter 12, cluster: beyond one machine, the same typed commands over NATS JetStream.
//
// main1's manager runs a thousand workers on one host. When one host is not
// enough, the tasks go through an existing distributed engine, NATS
// JetStream, and every host that reaches it runs them: with the very typed
// command, and the very handler, that a local program calls over the pipe.
// By default the chapter starts a NATS server inside itself (127.0.0.1, a
// free port, a temporary store), so it needs nothing installed.
//
// Run it with: go run ./part3/cluster -url-file /tmp/nats-url -hosts 2
// and, in another terminal (or on another host):
// go run ./part3/cluster -worker -name b -nats "$(cat /tmp/nats-url)"
package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/mpgo/mp/mp/manager"
	"github.com/nats-io/nats.go"
)

// The work and its reply: typed values, the same for the pipe and for
// NATS. Shared memory does not cross hosts, so the values travel in the
// request and the reply.
type Work struct {
	Task  int
	Value float64
	Units int // take this many units of time
}

type Done struct {
	Task   int
	Value  float64
	Square float64
	Host   string // which host ran it
}

var work = mp.NewCommand[Work, Done]("work")

// worker is the backend. Its handler knows nothing of NATS: it is an
// ordinary mp handler, registered with mp.HandleCommand.
type worker struct {
	*mp.Backend
	host    string
	unit    float64 // seconds per unit of work
	verbose bool
	poison  bool
}

func (w *worker) PreRun(ctx context.Context) error {
	w.host, _ = w.Params().String("host")
	w.unit, _ = w.Params().Float("unit")
	w.verbose, _ = w.Params().Bool("verbose")
	w.poison, _ = w.Params().Bool("poison")
	return nil
}

// doWork squares a value, taking its time. It may run more than once for
// one task (a host that died before its acknowledgement), so it must be
// idempotent: this one only computes.
func (w *worker) doWork(ctx context.Context, req Work) (Done, error) {
	if w.verbose {
		w.Log().Info(fmt.Sprintf("task %d: working", req.Task))
	}
	//docs:skip
	if w.poison && req.Task == 2 { // the fault the tests inject: see -fault
		panic("poison task")
	}
	//docs:end
	select {
	case <-time.After(time.Duration(float64(req.Units) * w.unit * float64(time.Second))):
	case <-ctx.Done():
		return Done{}, ctx.Err()
	}
	return Done{Task: req.Task, Value: req.Value, Square: req.Value * req.Value, Host: w.host}, nil
}

var workers = mp.NewKind("Worker", func(b *mp.Backend) *worker { return &worker{Backend: b} })

func init() { mp.HandleCommand(workers, work, (*worker).doWork) }

func main() {
	mp.Init()
	cfg, err := parseFlags(os.Args[1:])
	story.ExitOnFlagError(err) // -h: status 0; a usage error: 2, nothing started
	log := mplog.New("main", mplog.Front)
	ctx, force, stop := manager.Signals(context.Background())
	defer stop()
	ctx, stopWatching := story.UntilStdoutCloses(ctx)
	defer stopWatching()
	if cfg.worker {
		err = runHost(ctx, force, cfg, log) // only this host's workers
	} else {
		err = run(ctx, force, cfg, log)
	}
	if err != nil || ctx.Err() != nil {
		story.Exit(ctx, log, err)
	}
	log.Info("bye")
}

// run submits the tasks, and runs this host's workers beside them. Without
// -nats the NATS server runs here too: the whole cluster in one process
// and its backends.
func run(ctx context.Context, force <-chan struct{}, cfg config, log *slog.Logger) error {
	url := cfg.nats
	if url == "" {
		srv, err := startServer(cfg, log)
		if err != nil {
			return err
		}
		// Shutdown stops the server and removes its temporary store,
		// whatever happened meanwhile (Ctrl-C included); the URL file
		// goes too: its URL, token included, serves nobody once the
		// server is gone.
		defer srv.Shutdown()
		url = srv.URL()
		if cfg.urlFile != "" {
			defer removeURLFile(cfg.urlFile, url)
		}
	}
	nc, err := connect(url, cfg)
	if err != nil {
		return err
	}
	defer nc.Close()

	// This host's workers pull tasks like any other host's.
	hostCtx, stopHost := context.WithCancel(ctx)
	hostDone := make(chan error, 1)
	if cfg.workers > 0 {
		go func() { hostDone <- serve(hostCtx, force, nc, cfg, log) }()
	} else {
		hostDone <- nil
	}
	defer func() { stopHost(); <-hostDone }()

	// Every wait ends: for the hosts, for each result, with Ctrl-C, or
	// after -timeout, which the error then names.
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.timeout, fmt.Errorf("-timeout %v passed", cfg.timeout))
		defer cancel()
	}
	client, err := cluster.NewClient(ctx, nc, clusterConfig(cfg))
	if err != nil {
		return err
	}
	defer client.Close()
	if _, err := client.WaitHosts(ctx, cfg.hosts, work.Name()); err != nil {
		return err
	}
	log.Info(fmt.Sprintf("%d worker host(s) ready; submitting %d tasks", cfg.hosts, cfg.tasks))

	// Submit every task at once: the stream holds them until a worker
	// is free, on whichever host. Then wait for each result, in order.
	rng := rand.New(rand.NewPCG(cfg.seed, 0))
	tasks := make([]*cluster.Task[Done], cfg.tasks)
	for i := range tasks {
		req := Work{Task: i + 1, Value: float64(rng.IntN(1000)) / 1000, Units: 1 + rng.IntN(4)}
		if tasks[i], err = cluster.Submit(ctx, client, work, req); err != nil {
			return err
		}
	}
	failed := 0
	for i, t := range tasks {
		done, err := t.Wait(ctx)
		switch {
		case ctx.Err() != nil:
			return err
		case err != nil:
			failed++
			log.Warn(fmt.Sprintf("task %d: %v", i+1, err)) // the error says how it failed
		default:
			log.Info(fmt.Sprintf("task %d: %.3f squared is %.3f, on host %s", done.Task, done.Value, done.Square, done.Host))
		}
	}
	log.Info(fmt.Sprintf("all %d tasks done, %d failed", cfg.tasks, failed))
	return nil
}

// runHost is a worker host alone: it connects to the server of -nats and
// runs its workers until Ctrl-C.
func runHost(ctx context.Context, force <-chan struct{}, cfg config, log *slog.Logger) error {
	nc, err := connect(cfg.nats, cfg)
	if err != nil {
		return err
	}
	defer nc.Close()
	log.Info(fmt.Sprintf("host %s: %s for %s, pid %d", cfg.name, story.Count(cfg.workers, "worker"), cluster.Redact(nc.ConnectedUrlRedacted()), os.Getpid()))
	return serve(ctx, force, nc, cfg, log)
}

// serve runs this host's workers: a manager of local mp backends, as in
// main1, fed by a cluster.Worker that pulls the tasks of "work".
func serve(ctx context.Context, force <-chan struct{}, nc *nats.Conn, cfg config, log *slog.Logger) error {
	m, err := manager.New(manager.Config{
		Workers: cfg.workers,
		Name:    func(i int) string { return fmt.Sprintf("%s-%d", cfg.name, i+1) },
		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
			return workers.Start(ctx, mp.Options{
				Name: w.Name(),
				Params: mp.Params{"host": cfg.name, "verbose": cfg.worker, "unit": cfg.unit,
					"poison": cfg.fault == "poison"},
			})
		},
		// A poison task crashes a worker on each delivery; the manager
		// replaces it, and only more than 10 crashes in 5 s stop it.
		MaxRestarts: 10,
		StillAlive:  -1,
		Force:       force,
		Log:         log,
	})
	if err != nil {
		return err
	}
	w := cluster.NewWorker(nc, clusterConfig(cfg), cluster.WorkerOptions{Name: cfg.name, Log: log})
	cluster.Serve(w, work) // the same command a local Call uses
	return w.Run(ctx, m)
}

// startServer starts the embedded NATS server. On loopback it needs no
// credentials: only this machine's users reach it. Beyond, it requires a
// token, made now and printed once: whoever can publish a task runs code
// in our workers.
func startServer(cfg config, log *slog.Logger) (*embedded.Server, error) {
	host, port := splitListen(cfg.listen)
	srv, err := embedded.Start(embedded.Config{Host: host, Port: port})
	if err != nil {
		return nil, err
	}
	log.Info(fmt.Sprintf("nats server on %s, streams in a temporary directory", cluster.Redact(srv.URL())))
	if srv.Token() != "" {
		log.Warn(fmt.Sprintf("listening beyond loopback: clients need the token; other hosts use -nats %s", reachableURL(srv.URL())))
	}
	if cfg.urlFile != "" {
		if err := writeURLFile(cfg.urlFile, srv.URL()); err != nil {
			srv.Shutdown()
			return nil, err
		}
	}
	return srv, nil
}

// reachableURL is the server's URL as another host writes it: where the
// server listens on every address (0.0.0.0, ::), which no other host can
// dial, the host part says to put this host's address there.
func reachableURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
		return fmt.Sprintf("%s://%s@<this-host>:%s", u.Scheme, u.User, u.Port())
	}
	return raw
}

// connect connects within five seconds, with a credentials file if -creds
// names one; the error names the URL, without its secret.
func connect(url string, cfg config) (*nats.Conn, error) {
	var opts []nats.Option
	if cfg.creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.creds))
	}
	return cluster.Connect(url, 5*time.Second, opts...)
}

func clusterConfig(cfg config) cluster.Config {
	return cluster.Config{AckWait: cfg.ackWait, MaxDeliver: cfg.maxDeliver}
}
