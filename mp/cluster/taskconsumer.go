package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// metaExtraDelivery marks, in its metadata, a task consumer made with the
// extra delivery (MaxDeliver one more than Config.MaxDeliver).
const metaExtraDelivery = "mp-cluster-extra-delivery"

// sameConsumer checks that the task consumer c matches the Worker's
// Config. A consumer of an earlier build has MaxDeliver equal to its
// Config's; one of this build (marked) made by a host whose Config says
// one less has that too, and is a disagreement of Configs, not of builds.
func (w *Worker) sameConsumer(c jetstream.ConsumerConfig) error {
	_, marked := c.Metadata[metaExtraDelivery]
	if !marked && c.AckWait == w.cfg.AckWait && c.MaxDeliver == w.cfg.MaxDeliver {
		return errors.New("was made by an earlier build of mp/cluster, without the extra delivery that reports a lost task: delete it, with every host of that build stopped")
	}
	if c.AckWait != w.cfg.AckWait || c.MaxDeliver != w.cfg.MaxDeliver+1 {
		return fmt.Errorf("has AckWait %v and MaxDeliver %d, this host's Config %v and %d: every host must use the same (delete the consumer to change them)",
			c.AckWait, c.MaxDeliver-1, w.cfg.AckWait, w.cfg.MaxDeliver)
	}
	return nil
}

// consumer returns the durable consumer of command name, created with the
// Worker's Config if there is none. One that exists with another AckWait or
// MaxDeliver is an error: changing it would change it for every host.
//
// The server delivers a task once more than Config.MaxDeliver: a task
// whose last attempt was lost with its host is delivered again once the
// attempt's AckWait has passed, to whichever host pulls first, even one
// that starts later, and that host reports it failed without running it
// (see take). Were the server to stop at MaxDeliver, only its
// max-deliveries advisory would say so, a plain message that no host
// receives if none runs at that moment: the task would stay in the work
// queue for good, its Wait unanswered.
func (w *Worker) consumer(ctx context.Context, stream jetstream.Stream, command string) (jetstream.Consumer, error) {
	name := w.cfg.consumer(command)
	cons, err := stream.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       name,
			FilterSubject: w.cfg.taskSubject(command),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       w.cfg.AckWait,
			MaxDeliver:    w.cfg.MaxDeliver + 1,
			MaxAckPending: -1,
			Metadata:      map[string]string{metaExtraDelivery: "1"},
		})
		if errors.Is(err, jetstream.ErrConsumerExists) { // made by another host meanwhile, with another Config
			cons, err = stream.Consumer(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: consumer %s: %w", name, err)
	}
	if err := w.sameConsumer(cons.CachedInfo().Config); err != nil {
		return nil, fmt.Errorf("cluster: %w: consumer %s %w", ErrConfig, name, err)
	}
	return cons, nil
}

// remake makes the task consumer of command again if the server has lost
// it (someone deleted it, or the server came back without its storage:
// the streams are then made again too), and returns it; it returns nil if
// the consumer is there (the fetch failed for another reason), and the
// error if the server cannot say now. The error wraps ErrConfig if the
// streams or the consumer exist with another Config (another host, or
// someone, made them again meanwhile): the fetches would then deliver
// tasks under rules this host does not follow.
func (w *Worker) remake(ctx context.Context, command string) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	name := w.cfg.consumer(command)
	cons, err := w.js.Consumer(ctx, w.cfg.taskStream(), name)
	switch {
	case err == nil: // there: made again by someone else, perhaps
		if err := w.sameConsumer(cons.CachedInfo().Config); err != nil {
			return nil, fmt.Errorf("cluster: %w: consumer %s %w", ErrConfig, name, err)
		}
		return nil, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if err := ensureStreams(ctx, w.js, w.cfg); err != nil {
			return nil, err
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, err
	}
	stream, err := w.js.Stream(ctx, w.cfg.taskStream())
	if err != nil {
		return nil, fmt.Errorf("cluster: stream %s: %w", w.cfg.taskStream(), err)
	}
	return w.consumer(ctx, stream, command)
}
