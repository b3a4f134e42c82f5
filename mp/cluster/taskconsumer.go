package cluster

import (
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
