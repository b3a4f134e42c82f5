package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The results consumer's pull requests: each lasts resultExpiry, with a
// heartbeat every resultHeartbeat. A consumer without pull requests for
// resultInactivity (its client is gone without Close) is removed by the
// server.
const (
	resultExpiry     = 10 * time.Second
	resultHeartbeat  = 2 * time.Second
	resultInactivity = 5 * time.Minute
)

// readResults creates the client's results consumer and starts reading
// it, into c.receive.
//
// The results are read through a consumer of the client's own, with the
// streams' replicas: when a node goes, the consumer elects a new leader
// among the others, like the task consumer, and the pull requests move to
// it after a missed heartbeat or a reconnection. An ordered consumer (one
// replica, in memory) has instead to be created again when its node or the
// client's server goes; with three nodes, one just killed, that creation
// was seen to time out again and again for more than 80 s, and the client
// received nothing meanwhile. Each result is acknowledged: one lost on its
// way (the client's server went) is delivered again after AckWait.
func (c *Client) readResults(ctx context.Context) error {
	cons, err := c.js.CreateConsumer(ctx, c.cfg.resultStream(), jetstream.ConsumerConfig{
		Name:              c.cons,
		FilterSubject:     c.cfg.resultSubject(c.id, "*"),
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           c.cfg.AckWait,
		MaxDeliver:        -1,
		MaxAckPending:     -1,
		Replicas:          c.cfg.Replicas,
		InactiveThreshold: resultInactivity,
	})
	if err != nil {
		return fmt.Errorf("cluster: results of %s: %w", c.id, err)
	}
	// A pull request held by a node that went is noticed when two
	// heartbeats are missed, and made again to the consumer's new leader.
	cc, err := cons.Consume(c.receive, jetstream.PullExpiry(resultExpiry), jetstream.PullHeartbeat(resultHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			switch {
			case errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrNoHeartbeat):
				c.startRevive() // not on the consume loop, which waits for us
			case errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrConnectionClosed):
				c.fail(fmt.Errorf("the NATS connection is closed: %w", nats.ErrConnectionClosed))
			}
		}))
	if err != nil {
		c.deleteConsumer()
		return fmt.Errorf("cluster: results of %s: %w", c.id, err)
	}
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.cc = cc
	}
	c.mu.Unlock()
	if closed { // Close came meanwhile
		cc.Stop()
		c.deleteConsumer()
	}
	return nil
}

// startRevive runs revive on a goroutine of its own, unless Close has
// come: Close waits for the revives it lets run.
func (c *Client) startRevive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.revives.Go(c.revive)
	}
}

// revive creates the results consumer again if the server removed it:
// the server does after resultInactivity without pull requests (a client
// cut off that long, a laptop asleep), or someone deleted it, or the
// server came back without its storage (see remake). Without it
// no result would reach the client again, and every Wait would last until
// its ctx. The new consumer delivers the client's results from the
// start: those taken already find no pending task and are dropped.
func (c *Client) revive() {
	if !c.reviving.TryLock() {
		return // another is at it
	}
	defer c.reviving.Unlock()
	gone := c.timed(func(ctx context.Context) error {
		_, err := c.js.Consumer(ctx, c.cfg.resultStream(), c.cons)
		return err
	})
	if !errors.Is(gone, jetstream.ErrConsumerNotFound) && !errors.Is(gone, jetstream.ErrStreamNotFound) {
		return // there, or the server cannot say now: the next missed heartbeat asks again
	}
	c.mu.Lock()
	old := c.cc
	c.mu.Unlock()
	if old != nil { // not yet stored, if the consumer went as NewClient made it
		old.Stop()
	}
	if beforeRecreate != nil {
		beforeRecreate()
	}
	// The server is away: again, until Close, or until the connection is
	// closed for good: the old consumer's loop, which would have failed
	// the Waits then (see readResults), is stopped. A stream made again
	// with another Config fails the Waits pending at each attempt: it may
	// be put right, but no result comes meanwhile.
	for {
		err := c.timed(c.remake)
		if err == nil {
			return
		}
		if errors.Is(err, ErrConfig) { // a stream of that name, not ours: no result can come
			c.fail(unprefixed{err})
		}
		if c.nc.IsClosed() {
			c.fail(fmt.Errorf("the NATS connection is closed: %w", nats.ErrConnectionClosed))
			return
		}
		select {
		case <-time.After(time.Second):
		case <-c.stop:
			return
		}
	}
}

// remake makes the results consumer again, and the streams first if the
// server lost them. A results stream made again (by remake, a Submit or a
// worker host) holds none of the results stored before: each task pending
// then is looked up (sweep). One still in the task stream (queued, or
// running; submitted before the results stream went, or after the server
// came back) stores its result in the new stream, which the new consumer
// reads: its Wait goes on. One whose result is in neither ends with
// ErrLost rather than last until its ctx.
func (c *Client) remake(ctx context.Context) error {
	if err := ensureStreams(ctx, c.js, c.cfg); err != nil {
		return err
	}
	made, err := c.streamMade(ctx, c.cfg.resultStream())
	if err != nil {
		return err
	}
	if !made.Equal(c.made) { // each lookup timed, not the sweep (see sweep); Close ends it
		if err := c.sweep(c.stopped, "the server's results stream "+c.cfg.resultStream()+" was made again (the server lost its storage, or someone deleted the stream)", nil); err != nil {
			return err
		}
		c.made = made
	}
	return c.timed(c.readResults) // the sweep may have taken ctx's time
}

// unprefixed is an error of this package without its "cluster: ", to be
// wrapped by another that says it.
type unprefixed struct{ error }

func (u unprefixed) Error() string { return strings.TrimPrefix(u.error.Error(), "cluster: ") }
func (u unprefixed) Unwrap() error { return u.error }

// beforeRecreate, if set, runs in revive between the stop of the old
// consumer's loop and the creation of the new consumer: a test's way to
// close the connection in between.
var beforeRecreate func()

// timed calls f with a context that ends after Config.Timeout.
func (c *Client) timed(f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	return f(ctx)
}

// deleteConsumer removes the client's results consumer, best effort.
func (c *Client) deleteConsumer() {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	c.js.DeleteConsumer(ctx, c.cfg.resultStream(), c.cons)
}
