package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Worker pulls tasks from the task stream and runs each on one of the local
// workers of a manager, with the typed command the task names. Register the
// commands with Serve, then call Run once. A Worker's state is owned by Run
// and the goroutines it starts; Serve must be called before Run.
type Worker struct {
	name   string
	nc     *nats.Conn
	cfg    Config
	log    *slog.Logger
	routes []*route
	err    error               // the first invalid Serve, returned by Run
	js     jetstream.JetStream // set by Run

	finishing sync.WaitGroup // tasks whose result is being stored
}

// route is a command a Worker serves, its types erased: decode turns a
// task's data into a call of the command on a process.
type route struct {
	name   string
	decode func(data []byte) (call func(ctx context.Context, p *mp.Process) ([]byte, error), err error)
}

// WorkerOptions are a Worker's own settings; the zero value is the
// default.
type WorkerOptions struct {
	// Name names the host in Client.WaitHosts's answers; default
	// "<hostname>-<pid>".
	Name string
	// Log receives a line for each task handed back, given up or
	// terminated; nil means lines starting "cluster [front]" on os.Stdout,
	// at the level MP_LOG_LEVEL sets.
	Log *slog.Logger
}

// Host is a worker host's answer to Client.WaitHosts.
type Host struct {
	Name     string   `json:"name"`     // the host's name, WorkerOptions.Name
	Workers  int      `json:"workers"`  // the workers its manager runs when it answers
	Commands []string `json:"commands"` // the commands it serves (Serve); none from an earlier build
}

// NewWorker returns a Worker that uses connection nc and the streams of
// cfg.
func NewWorker(nc *nats.Conn, cfg Config, opts WorkerOptions) *Worker {
	if opts.Log == nil {
		opts.Log = mplog.New("cluster", mplog.Front)
	}
	if opts.Name == "" {
		host, _ := os.Hostname()
		opts.Name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	w := &Worker{name: opts.Name, nc: nc, log: opts.Log}
	w.cfg, w.err = cfg.withDefaults()
	return w
}

// Serve makes w run the tasks of command cmd: each request is decoded as a
// Req and passed to cmd.Call on a worker's process, so the handler the
// backend registered with mp.HandleCommand runs as it would for a local
// caller. A name that cannot be a subject token makes Run fail with
// ErrConfig.
func Serve[Req, Resp any](w *Worker, cmd *mp.Command[Req, Resp]) {
	if err := checkToken(cmd.Name()); err != nil && w.err == nil {
		w.err = fmt.Errorf("cluster: %w: command: %v", ErrConfig, err)
	}
	w.routes = append(w.routes, &route{
		name: cmd.Name(),
		decode: func(data []byte) (func(context.Context, *mp.Process) ([]byte, error), error) {
			var req Req
			if err := decode(data, &req); err != nil {
				return nil, err
			}
			return func(ctx context.Context, p *mp.Process) ([]byte, error) {
				resp, err := cmd.Call(ctx, p, req)
				if err != nil {
					return nil, err
				}
				return encode(resp)
			}, nil
		},
	})
}

// Run runs manager m (it calls m.Run: nobody else may) and feeds it the
// tasks of the commands served, until ctx ends or m stops on its own. It
// fetches a task only into a free slot, one per local worker plus one per
// command, so that a busy host leaves the other tasks to other hosts.
// Tasks still queued or running when it stops are handed back to the
// server (Nak) for another worker; results being stored are stored first.
// Run returns m.Run's error, or an error setting up the streams and
// consumers; it fails with ErrConfig when no command is served or the
// consumer disagrees with the Worker's Config, and with an error wrapping
// nats.ErrConnectionClosed, its manager stopped, when the connection is
// closed for good. A task consumer that goes while Run runs (deleted, or
// lost with the streams by a server that came back without its storage)
// is made again, with the streams if need be; if what it finds then
// disagrees with the Worker's Config, Run stops and fails with ErrConfig.
// Run may be called once.
func (w *Worker) Run(ctx context.Context, m *manager.Manager) error {
	if w.err != nil {
		return w.err
	}
	if len(w.routes) == 0 {
		return fmt.Errorf("cluster: %w: no command served", ErrConfig)
	}
	js, err := jetstream.New(w.nc)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	w.js = js
	if err := ensureStreams(ctx, js, w.cfg); err != nil {
		return err
	}
	stream, err := js.Stream(ctx, w.cfg.taskStream())
	if err != nil {
		return fmt.Errorf("cluster: stream %s: %w", w.cfg.taskStream(), err)
	}
	// A task whose last delivery timed out (its host died) stays in the
	// work queue for good: the server says so in an advisory, and the
	// workers report and remove it.
	adv, err := w.nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+w.cfg.taskStream()+".*", func(msg *nats.Msg) {
		w.exceeded(stream, msg.Data)
	})
	if err != nil {
		return fmt.Errorf("cluster: advisories: %w", err)
	}
	defer adv.Unsubscribe()

	// Slots bound the tasks taken from the server and not finished: one
	// per local worker, plus one per command that waits for its next task.
	// A task is fetched only into a free slot: none waits, unseen by its
	// keep-alive, in a client-side buffer.
	slots := make(chan struct{}, len(m.Workers())+len(w.routes))
	var consumers []jetstream.Consumer
	for _, r := range w.routes {
		cons, err := w.consumer(ctx, stream, r.name)
		if err != nil {
			return err
		}
		consumers = append(consumers, cons)
	}

	// A connection closed for good (by the program, or by the client
	// library after its last reconnection attempt) ends the run: the host
	// could take no task any more.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w.endWhenClosed(runCtx, cancel)
	managed := make(chan error, 1)
	go func() { managed <- m.Run(runCtx) }()
	var pulling sync.WaitGroup
	for i, r := range w.routes {
		pulling.Add(1)
		go func() {
			defer pulling.Done()
			w.pull(runCtx, cancel, consumers[i], r, m, slots)
		}()
	}
	// Now that it pulls, the host answers who asks which hosts serve.
	if hello, err := w.answerHosts(m); err == nil {
		defer hello.Unsubscribe()
	}
	err = <-managed // ends with ctx, or when the manager gives up
	cancel(nil)
	pulling.Wait()
	w.finishing.Wait()
	if lost := context.Cause(runCtx); ctx.Err() == nil && (errors.Is(lost, nats.ErrConnectionClosed) || errors.Is(lost, ErrConfig)) {
		return lost
	}
	return err
}

// answerHosts answers Client.WaitHosts: this host's name, workers and
// commands.
func (w *Worker) answerHosts(m *manager.Manager) (*nats.Subscription, error) {
	var commands []string
	for _, r := range w.routes {
		commands = append(commands, r.name)
	}
	return w.nc.Subscribe(w.cfg.Prefix+".hosts", func(msg *nats.Msg) {
		b, _ := json.Marshal(Host{Name: w.name, Workers: len(m.Workers()), Commands: commands})
		msg.Respond(b)
	})
}

// endWhenClosed ends ctx (with cancel) once the connection is closed.
func (w *Worker) endWhenClosed(ctx context.Context, cancel context.CancelCauseFunc) {
	status := w.nc.StatusChanged(nats.CLOSED)
	go func() {
		defer w.nc.RemoveStatusListener(status)
		select {
		case <-status:
		case <-ctx.Done():
			return
		}
		if w.nc.IsClosed() {
			cancel(fmt.Errorf("cluster: the NATS connection is closed: %w", nats.ErrConnectionClosed))
		}
	}()
	if w.nc.IsClosed() { // before the listener was there
		cancel(fmt.Errorf("cluster: the NATS connection is closed: %w", nats.ErrConnectionClosed))
	}
}

// pull fetches the tasks of one command into the free slots, and submits
// each to the manager. A consumer found gone is made again (see remake);
// one that cannot be, because the server's streams or consumer now
// disagree with the Worker's Config, ends the run (stop) with that error.
func (w *Worker) pull(ctx context.Context, stop context.CancelCauseFunc, cons jetstream.Consumer, r *route, m *manager.Manager, slots chan struct{}) {
	release := func() { <-slots }
	for {
		// Wait for one free slot, then take every other free one.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < cap(slots) {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		batch, err := cons.Fetch(n, jetstream.FetchContext(ctx))
		if err == nil {
			for msg := range batch.Messages() {
				n--
				w.take(ctx, msg, r, m, release)
			}
			err = batch.Error()
		}
		for range n {
			release()
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			again, rerr := w.remake(ctx, r.name)
			if again != nil {
				w.log.Warn(fmt.Sprintf("%s: fetching tasks: %v: the task consumer was gone (deleted, or the server lost its streams); made again", r.name, err))
				cons = again
				continue
			}
			if errors.Is(rerr, ErrConfig) {
				stop(rerr)
				return
			}
			w.log.Warn(fmt.Sprintf("%s: fetching tasks: %v", r.name, err))
			select { // a server that is away: do not spin
			case <-time.After(250 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
}

// take starts one task: it checks the message, decodes the request, keeps
// the task alive on the server while it waits and runs, and submits it.
// release frees its slot once the task is finished.
func (w *Worker) take(ctx context.Context, msg jetstream.Msg, r *route, m *manager.Manager, release func()) {
	md, err := msg.Metadata()
	client := msg.Headers().Get(hdrClient)
	id := msg.Headers().Get(nats.MsgIdHdr)
	if err != nil || checkToken(client) != nil || checkToken(id) != nil {
		// Not a task of this package: someone else published on the
		// subject. Redelivering it would only fail again.
		w.log.Warn(fmt.Sprintf("%s: terminated a message that is not a task (%d bytes, no client or task ID)", r.name, len(msg.Data())))
		msg.TermWithReason("not an mp/cluster task")
		release()
		return
	}
	t := &job{w: w, msg: msg, command: r.name, client: client, id: id, deliveries: int(md.NumDelivered)}
	if t.deliveries > w.cfg.MaxDeliver { // the last attempt was lost: see consumer
		t.deliveries = w.cfg.MaxDeliver
		w.log.Warn(fmt.Sprintf("task %q %s %v (%s): %s", r.name, id, ErrFailed, deliveries(t.deliveries), lostText))
		w.finishing.Add(1)
		go func() {
			defer w.finishing.Done()
			defer release()
			t.finish(statusFailed, nil, lostText, true)
		}()
		return
	}
	call, err := r.decode(msg.Data())
	if err != nil {
		w.log.Warn(fmt.Sprintf("task %q %s: terminated: the request does not decode: %v", r.name, id, err))
		w.finishing.Add(1)
		go func() {
			defer w.finishing.Done()
			defer release()
			t.finish(statusBadRequest, nil, err.Error(), true)
		}()
		return
	}
	stopTicking := t.keepAlive(ctx)
	var out []byte
	err = m.Submit(manager.Task{
		Name: r.name + "-" + id,
		Do: func(ctx context.Context, _ *manager.Worker, p *mp.Process) (err error) {
			out, err = call(ctx, p)
			return err
		},
		// Done runs on the manager's loop: storing the result is a
		// round trip to the server, so it happens on a goroutine.
		Done: func(_ *manager.Worker, err error) {
			stopTicking()
			w.finishing.Add(1)
			go func() {
				defer w.finishing.Done()
				defer release()
				t.done(out, err)
			}()
		},
	})
	if err != nil { // the manager is stopping: another worker takes it
		stopTicking()
		msg.Nak()
		release()
	}
}

// lostText says why a task whose last attempt was lost failed.
const lostText = "no worker finished it (its host was lost, or handed it back)"

// exceeded handles a max-deliveries advisory: the task it names is
// reported failed to its client and removed from the stream. It comes
// when the extra delivery that take reports (see consumer) was lost too. Every worker
// host receives the advisory; the first to act removes the task, and the
// result is stored once.
func (w *Worker) exceeded(stream jetstream.Stream, data []byte) {
	var a struct {
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries int    `json:"deliveries"`
	}
	if err := json.Unmarshal(data, &a); err != nil || a.StreamSeq == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
	defer cancel()
	raw, err := stream.GetMsg(ctx, a.StreamSeq)
	if err != nil {
		return // another host removed it already
	}
	client, id := raw.Header.Get(hdrClient), raw.Header.Get(nats.MsgIdHdr)
	command := raw.Subject[len(w.cfg.taskSubject("")):]
	if checkToken(client) == nil && checkToken(id) == nil {
		n := min(a.Deliveries, w.cfg.MaxDeliver) // the extra delivery is no attempt
		if err := publishResult(ctx, w.nc, w.cfg, client, id, command, statusFailed, nil, lostText, n); err != nil {
			w.log.Warn(fmt.Sprintf("task %q %s: storing its failure: %v", command, id, err))
			return
		}
		w.log.Warn(fmt.Sprintf("task %q %s %v (%s): %s", command, id, ErrFailed, deliveries(n), lostText))
	}
	stream.DeleteMsg(ctx, a.StreamSeq)
}
