package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// taskWatchEvery is how often a client with pending tasks asks the server
// about its task stream (watchTasks): one request, none while no task is
// pending. Tests shorten it before NewClient.
var taskWatchEvery = 2 * time.Second

// streamMade returns when stream name was made.
func (c *Client) streamMade(ctx context.Context, name string) (time.Time, error) {
	st, err := c.js.Stream(ctx, name)
	if err != nil {
		return time.Time{}, fmt.Errorf("cluster: stream %s: %w", name, err)
	}
	return st.CachedInfo().Created, nil
}

// watchTasks notices, until Close, the pending tasks that left the task
// stream without a result: the stream deleted or made again (by an
// operator, or a server back without its storage), or purged. Every
// taskWatchEvery, if a task is pending, it reads the stream's info: if the
// stream is gone or was made again, every pending task is looked up
// (sweep); if its first sequence has passed a pending task's for a whole
// round, that task is (its worker acknowledged it, its result stored
// first, or it was purged): a task that a worker has just done has its
// result read by then, and costs no lookup. A purge of some subjects or
// sequences that leaves an earlier message in place is not noticed.
func (c *Client) watchTasks(every time.Duration, made time.Time) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	tw := &taskWatch{made: made}
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		c.checkTasks(c.stopped, tw)
	}
}

// taskWatch is what a round of watchTasks leaves to the next.
type taskWatch struct {
	made  time.Time // when the task stream seen last was made
	first uint64    // its first sequence then; 0 if not known
}

// checkTasks is a round of watchTasks, which updates tw. An error (the
// server away, or ctx ended: Close) leaves the check to the next round.
// Each request to the server is bounded by Config.Timeout.
func (c *Client) checkTasks(ctx context.Context, tw *taskWatch) error {
	low := c.lowestPending()
	if low == 0 {
		return nil
	}
	var st jetstream.Stream
	err := c.within(ctx, func(ctx context.Context) (err error) {
		st, err = c.js.Stream(ctx, c.cfg.taskStream())
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		tw.first = 0
		return c.sweep(ctx, "the task stream "+c.cfg.taskStream()+" is gone (deleted, or lost by the server)", nil)
	}
	if err != nil {
		return err
	}
	info := st.CachedInfo()
	if !info.Created.Equal(tw.made) {
		tw.first = 0
		if err := c.sweep(ctx, "the task stream "+c.cfg.taskStream()+" was made again", nil); err != nil {
			return err
		}
		tw.made = info.Created
		return nil
	}
	// Tasks below the first sequence of the round before have been out of
	// the stream for a round without their results.
	before := tw.first
	tw.first = info.State.FirstSeq
	if low < before {
		return c.sweep(ctx, "the task left the task stream "+c.cfg.taskStream()+" (purged?)", func(seq uint64) bool { return seq < before })
	}
	return nil
}

// lowestPending returns the lowest task stream sequence of a pending task,
// 0 if none is pending.
func (c *Client) lowestPending() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var low uint64
	for _, w := range c.pending {
		if w.seq != 0 && !w.settled() && (low == 0 || w.seq < low) {
			low = w.seq
		}
	}
	return low
}

// sweep looks up the pending tasks whose sequence in the task stream is
// known and passes only (every one if only is nil), and ends with ErrLost,
// saying why, the Waits of those that are neither in the task stream
// (queued, or running: at that sequence, with their ID) nor have a result
// in the results stream (one there reaches the client). A worker stores a
// result before it removes the task: a task looked up between the two is
// found in one or the other. A Submit whose acknowledgement comes during
// a sweep is not looked up by it. It costs a request or two per task, each
// bounded by Config.Timeout (not the sweep: there may be many), and
// returns the first error that leaves a task's whereabouts unknown.
func (c *Client) sweep(ctx context.Context, why string, only func(seq uint64) bool) error {
	type task struct {
		id  string
		seq uint64
		w   *waiting
	}
	var tasks []task
	c.mu.Lock()
	for id, w := range c.pending {
		if w.seq != 0 && !w.settled() && (only == nil || only(w.seq)) {
			tasks = append(tasks, task{id, w.seq, w})
		}
	}
	c.mu.Unlock()
	if len(tasks) == 0 {
		return nil
	}
	queue, err := c.stream(ctx, c.cfg.taskStream())
	if err != nil {
		return err
	}
	results, err := c.stream(ctx, c.cfg.resultStream())
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if queue != nil {
			var msg *jetstream.RawStreamMsg
			err := c.within(ctx, func(ctx context.Context) (err error) {
				msg, err = queue.GetMsg(ctx, t.seq)
				return err
			})
			if err == nil && msg.Header.Get(nats.MsgIdHdr) == t.id {
				continue // queued or running
			}
			if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("cluster: task %s: %w", t.id, err)
			}
		}
		if results != nil {
			err := c.within(ctx, func(ctx context.Context) error {
				_, err := results.GetLastMsgForSubject(ctx, c.cfg.resultSubject(c.id, t.id))
				return err
			})
			if err == nil {
				continue // the results consumer brings it
			}
			if !errors.Is(err, jetstream.ErrMsgNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("cluster: result of %s: %w", t.id, err)
			}
		}
		c.mu.Lock()
		t.w.settle(nil, fmt.Errorf("%w: %s, and the server holds neither the task nor its result", ErrLost, why))
		c.mu.Unlock()
	}
	return nil
}

// within calls f with a context that ends with ctx or after
// Config.Timeout.
func (c *Client) within(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	return f(ctx)
}

// stream returns stream name, nil if there is none.
func (c *Client) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	var st jetstream.Stream
	err := c.within(ctx, func(ctx context.Context) (err error) {
		st, err = c.js.Stream(ctx, name)
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: stream %s: %w", name, err)
	}
	return st, nil
}
