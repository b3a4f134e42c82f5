package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Headers of tasks and results.
const (
	hdrClient     = "Mp-Client"     // task: the submitter's ID, where its result goes
	hdrStatus     = "Mp-Status"     // result: ok, handler, failed, bad-request
	hdrError      = "Mp-Error"      // result: the error's text
	hdrDeliveries = "Mp-Deliveries" // result: deliveries of the task
	hdrCommand    = "Mp-Command"    // result: the command's name
)

// Client submits tasks and receives their results. It reads the results of
// its own tasks only (those published for its ID), from the moment
// NewClient returns until Close. Its methods are safe for concurrent use.
type Client struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	cfg  Config
	id   string
	cons string // the results consumer's name

	reviving sync.Mutex      // one revive at a time
	made     time.Time       // when the results stream was made (under reviving, after NewClient)
	revives  sync.WaitGroup  // revives and watchTasks running; Close waits for them
	stop     chan struct{}   // closed by Close
	stopped  context.Context // ended by Close
	cancel   context.CancelFunc

	mu      sync.Mutex
	pending map[string]*waiting // by task ID; removed when its result arrives
	closed  bool                // by Close: no more Submit, no more results
	cc      jetstream.ConsumeContext
}

// waiting is a submitted task whose result has not been taken yet; done is
// closed when it arrives (msg), or when no result can come any more (err).
type waiting struct {
	done chan struct{}
	msg  jetstream.Msg
	err  error
	seq  uint64 // its sequence in the task stream, once stored (under c.mu)
}

// settled says whether w's wait has ended. c.mu must be held.
func (w *waiting) settled() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// settle ends w's wait with msg, or err if msg is nil, unless it ended
// already. c.mu must be held.
func (w *waiting) settle(msg jetstream.Msg, err error) {
	select {
	case <-w.done:
	default:
		w.msg, w.err = msg, err
		close(w.done)
	}
}

// fail ends every pending wait with err: no result can reach them.
func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.pending {
		w.settle(nil, err)
	}
}

// NewClient creates the streams of cfg if needed and starts reading the
// results of the client's tasks. It fails if the server has no JetStream,
// cfg is invalid (ErrConfig), or ctx ends first.
func NewClient(ctx context.Context, nc *nats.Conn, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if err := ensureStreams(ctx, js, cfg); err != nil {
		return nil, err
	}
	c := &Client{nc: nc, js: js, cfg: cfg, id: nuid.Next(), pending: map[string]*waiting{}, stop: make(chan struct{})}
	c.cons = cfg.resultConsumer(c.id)
	c.stopped, c.cancel = context.WithCancel(context.Background())
	if c.made, err = c.streamMade(ctx, cfg.resultStream()); err != nil {
		return nil, err
	}
	tasksMade, err := c.streamMade(ctx, cfg.taskStream())
	if err != nil {
		return nil, err
	}
	if err := c.readResults(ctx); err != nil {
		return nil, err
	}
	c.revives.Go(func() { c.watchTasks(taskWatchEvery, tasksMade) })
	return c, nil
}

// ID returns the client's ID: results are published for it.
func (c *Client) ID() string { return c.id }

// Close stops reading results and removes the client's results consumer
// from the server (waiting at most Config.Timeout, twice that if the
// consumer was being made again then, see revive): a Wait that has no
// result yet then returns an error wrapping ErrClosed, and so does a later
// Submit, which queues nothing. Tasks submitted and not yet finished keep
// running on the workers; their results stay in the results stream until
// Config.ResultTTL has passed. Close may be called more than once.
func (c *Client) Close() {
	c.mu.Lock()
	closed := c.closed
	c.closed = true
	c.mu.Unlock()
	c.fail(ErrClosed)
	if closed {
		return
	}
	close(c.stop)
	c.cancel()
	c.revives.Wait() // a revive in progress could make the consumer again
	c.mu.Lock()
	cc := c.cc
	c.mu.Unlock()
	cc.Stop()
	c.deleteConsumer()
}

// receive takes a result. The first result for a task is kept; a later one
// (its task ran again, or the result was delivered again) finds no pending
// entry and is dropped. Each is acknowledged.
func (c *Client) receive(msg jetstream.Msg) {
	msg.Ack()
	task := msg.Subject()[strings.LastIndexByte(msg.Subject(), '.')+1:]
	c.mu.Lock()
	if w := c.pending[task]; w != nil {
		w.settle(msg, nil)
	}
	c.mu.Unlock()
}

// Task is a submitted task whose result is of type Resp.
type Task[Resp any] struct {
	c       *Client
	id      string
	command string
	w       *waiting
}

// ID returns the task's ID, its message ID in the task stream.
func (t *Task[Resp]) ID() string { return t.id }

// Wait waits for the task's result and returns the reply, or the task's
// *TaskError (wrapping ErrHandler, ErrFailed or ErrBadRequest), an error
// wrapping ErrBadReply, ErrClosed if the client was closed before the
// result came, ErrLost if the server holds neither the task nor its
// result any more (its stream was deleted, purged or lost: see ErrLost),
// ErrConfig if a stream of another Config took that stream's place,
// nats.ErrConnectionClosed if its connection was, or ctx's
// error if ctx ends first (a result already there is returned, whatever
// ctx). A Wait that returned ctx's error may be called again: the task is
// not withdrawn.
func (t *Task[Resp]) Wait(ctx context.Context) (Resp, error) {
	var resp Resp
	select {
	case <-t.w.done:
	case <-ctx.Done():
		select {
		case <-t.w.done: // there too: select picks either, the result wins
		default:
			return resp, fmt.Errorf("cluster: waiting for task %q %s: %w", t.command, t.id, context.Cause(ctx))
		}
	}
	t.c.forget(t.id)
	if t.w.msg == nil {
		return resp, fmt.Errorf("cluster: waiting for task %q %s: %w", t.command, t.id, t.w.err)
	}
	h := t.w.msg.Headers()
	if status := h.Get(hdrStatus); status != statusOK {
		n, _ := strconv.Atoi(h.Get(hdrDeliveries))
		return resp, &TaskError{Task: t.id, Command: t.command, Deliveries: n, Msg: h.Get(hdrError), Err: statusError(status)}
	}
	if err := decode(t.w.msg.Data(), &resp); err != nil {
		return resp, fmt.Errorf("cluster: task %q %s: %w: %w", t.command, t.id, ErrBadReply, err)
	}
	return resp, nil
}

// Submit queues req as a task of command cmd and returns at once, once the
// server has stored it. A Task dropped without Wait leaves nothing in the
// client once it is garbage collected: its result, when it comes, is
// dropped. The task's ID is its message ID: the publish is
// retried after a lost acknowledgement without being stored twice. Submit
// fails with an error wrapping ErrTooLarge if the encoded request is larger
// than the server accepts, mp.ErrParam if it cannot be encoded, ErrConfig if
// cmd's name cannot be a subject token, or ErrClosed after Close; nothing is
// queued then. It fails with the server's or ctx's error when the server
// did not acknowledge the task in time; whether it was queued is then
// unknown: the server may have stored it, or may store it once the
// connection is back (the client library keeps what is published while it
// reconnects), and it then runs, its result dropped. Submitting again may
// run the work twice, as a redelivery may: handlers must be idempotent.
// If no stream takes the task (the server came back without its storage,
// or someone deleted the streams), Submit makes the streams again and
// publishes once more.
func Submit[Req, Resp any](ctx context.Context, c *Client, cmd *mp.Command[Req, Resp], req Req) (*Task[Resp], error) {
	if err := checkToken(cmd.Name()); err != nil {
		return nil, fmt.Errorf("cluster: %w: command: %v", ErrConfig, err)
	}
	data, err := encode(req)
	if err != nil {
		return nil, fmt.Errorf("cluster: submit %q: %w: %w", cmd.Name(), mp.ErrParam, err)
	}
	id := nuid.Next()
	msg := nats.NewMsg(c.cfg.taskSubject(cmd.Name()))
	msg.Data = data
	msg.Header.Set(hdrClient, c.id)
	msg.Header.Set(nats.MsgIdHdr, id)
	// A request too large for the server would be refused by the client
	// library too; saying so here names the command and both sizes.
	if size, limit := len(data)+headerSize(msg.Header), c.nc.MaxPayload(); int64(size) > limit {
		return nil, fmt.Errorf("cluster: %w: submit %q: %d bytes, the server accepts at most %d", ErrTooLarge, cmd.Name(), size, limit)
	}
	w := &waiting{done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("cluster: submit %q: %w", cmd.Name(), ErrClosed)
	}
	c.pending[id] = w
	c.mu.Unlock()
	seq, err := c.publish(ctx, msg, id)
	if err != nil {
		c.forget(id)
		if errors.Is(err, nats.ErrMaxPayload) {
			err = fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("cluster: submit %q: %w", cmd.Name(), err)
	}
	c.mu.Lock()
	w.seq = seq
	c.mu.Unlock()
	t := &Task[Resp]{c: c, id: id, command: cmd.Name(), w: w}
	// A task nobody can wait for any more (submitted and forgotten) must
	// not keep its entry, and its result once it comes, for the client's
	// life: the entry goes with the Task.
	runtime.AddCleanup(t, c.forget, id)
	return t, nil
}

// publish stores task msg of ID id in the task stream and returns its
// sequence there (the first store's, for a retry the server found a
// duplicate of). A publish that no stream answers stored nothing: the
// streams are made again, and msg published once more.
func (c *Client) publish(ctx context.Context, msg *nats.Msg, id string) (uint64, error) {
	ack, err := c.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithRetryAttempts(3))
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		if err = ensureStreams(ctx, c.js, c.cfg); err != nil {
			return 0, unprefixed{err}
		}
		ack, err = c.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithRetryAttempts(3))
	}
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// forget drops the pending entry of task id.
func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Call submits req as a task of cmd and waits for its result: Submit, then
// Task.Wait. If ctx ends first the task is not withdrawn; it runs, and its
// result is dropped.
func Call[Req, Resp any](ctx context.Context, c *Client, cmd *mp.Command[Req, Resp], req Req) (Resp, error) {
	t, err := Submit(ctx, c, cmd, req)
	if err != nil {
		var zero Resp
		return zero, err
	}
	resp, err := t.Wait(ctx)
	if err != nil && ctx.Err() != nil {
		c.forget(t.id)
	}
	return resp, err
}

// WaitHosts asks which worker hosts serve the client's Config.Prefix, again
// every 100 ms, until n different hosts that serve command and every
// command in more (Serve) have answered, and returns them: a host that
// serves other commands only, or is of an earlier build that does not say
// which it serves, is not counted. A host answers once it pulls tasks.
// WaitHosts fails with an error wrapping ErrConfig if a name cannot be a
// command's, and with ctx's error if ctx ends first.
func (c *Client) WaitHosts(ctx context.Context, n int, command string, more ...string) ([]Host, error) {
	commands := append([]string{command}, more...)
	for _, name := range commands {
		if err := checkToken(name); err != nil {
			return nil, fmt.Errorf("cluster: %w: WaitHosts: command: %v", ErrConfig, err)
		}
	}
	// Every host answers each request at once: the answers are counted as
	// they come, on the subscription's own goroutine, whose queue holds
	// them all (a channel of its own would drop those past its room).
	var mu sync.Mutex
	seen := map[string]bool{}
	var hosts []Host
	enough := make(chan struct{})
	inbox := c.nc.NewRespInbox()
	sub, err := c.nc.Subscribe(inbox, func(msg *nats.Msg) {
		var h Host
		if json.Unmarshal(msg.Data, &h) != nil || !h.serves(commands) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !seen[h.Name] && len(hosts) < n {
			seen[h.Name] = true
			if hosts = append(hosts, h); len(hosts) == n {
				close(enough)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: hosts: %w", err)
	}
	defer sub.Unsubscribe()
	answered := func() []Host {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(hosts)
	}
	ask := time.NewTicker(100 * time.Millisecond)
	defer ask.Stop()
	for n > 0 {
		if err := c.nc.PublishRequest(c.cfg.Prefix+".hosts", inbox, nil); err != nil {
			return answered(), fmt.Errorf("cluster: hosts: %w", err)
		}
		select {
		case <-enough:
			return answered(), nil
		case <-ask.C:
		case <-ctx.Done():
			select {
			case <-enough: // there too: select picks either, the hosts win
				return answered(), nil
			default:
			}
			got := answered()
			return got, fmt.Errorf("cluster: waiting for %d worker hosts serving %s, %d answered: %w", n, strings.Join(commands, ", "), len(got), context.Cause(ctx))
		}
	}
	return nil, nil
}

// serves says whether h serves every command named.
func (h Host) serves(commands []string) bool {
	for _, name := range commands {
		if !slices.Contains(h.Commands, name) {
			return false
		}
	}
	return true
}
