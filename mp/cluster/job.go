package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// job is one delivery of a task.
type job struct {
	w                   *Worker
	msg                 jetstream.Msg
	command, client, id string
	deliveries          int
}

// keepAlive sends InProgress every third of AckWait until the returned
// function is called or ctx (the host's run) ends, so that a task waiting
// for a worker or running for a long time is not redelivered while its
// host is alive, and is once the host stops.
func (t *job) keepAlive(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		tick := time.NewTicker(t.w.cfg.AckWait / 3)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				t.msg.InProgress()
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// done decides what the end of a run means. A reply, or an error the
// handler returned, is the task's result: stored, then acknowledged. A
// process that died (a panic, a kill, a timeout) says nothing about the
// task: it is handed back for another attempt, unless this was the last.
func (t *job) done(out []byte, err error) {
	switch {
	case err == nil:
		t.finish(statusOK, out, "", false)
	case errors.Is(err, mp.ErrHandler), errors.Is(err, mp.ErrUnknownCommand):
		t.finish(statusHandler, nil, err.Error(), false)
	case errors.Is(err, mp.ErrStopped) && !errors.Is(err, manager.ErrWorkerDied):
		t.msg.Nak() // this host is stopping; not the task's fault
	case t.deliveries >= t.w.cfg.MaxDeliver:
		t.w.log.Warn(fmt.Sprintf("task %q %s failed on its last delivery (%d of %d): %v", t.command, t.id, t.deliveries, t.w.cfg.MaxDeliver, err))
		t.finish(statusFailed, nil, err.Error(), true)
	default:
		t.w.log.Warn(fmt.Sprintf("task %q %s: delivery %d of %d failed, handing it back: %v", t.command, t.id, t.deliveries, t.w.cfg.MaxDeliver, err))
		t.msg.Nak()
	}
}

// finish stores the task's result, then acknowledges the task (term: ends
// it for good as a failure). A result that cannot be stored leaves the task
// unacknowledged: it is delivered again. The acknowledgement is not waited
// for: one that is lost makes the task run again, and the server drops that
// run's result (same message ID), so waiting would only cost a round trip
// per task.
//
// A reply too large to be stored would be so again on every run: the task
// is given up at once, with an error that says so, rather than run
// MaxDeliver times and then reported lost.
func (t *job) finish(status string, data []byte, errText string, term bool) {
	ctx, cancel := context.WithTimeout(context.Background(), t.w.cfg.Timeout)
	defer cancel()
	err := publishResult(ctx, t.w.nc, t.w.cfg, t.client, t.id, t.command, status, data, errText, t.deliveries)
	var big *tooLarge
	if errors.As(err, &big) && status == statusOK {
		t.w.log.Warn(fmt.Sprintf("task %q %s: terminated: %v", t.command, t.id, err))
		t.finish(statusTooLarge, nil, err.Error(), true)
		return
	}
	if err != nil {
		t.w.log.Warn(fmt.Sprintf("task %q %s: storing its result: %v", t.command, t.id, err))
		return
	}
	if term {
		t.msg.TermWithReason(status)
		return
	}
	if err := t.msg.Ack(); err != nil {
		t.w.log.Warn(fmt.Sprintf("task %q %s: ack: %v (it will run again; its result is stored once)", t.command, t.id, err))
	}
}

// publishResult stores a result for client's task id. Its message ID is
// the task's, so a second run's result is dropped by the server within the
// duplicate window (and by the client after it). If the results stream is
// gone, it is made again.
func publishResult(ctx context.Context, nc *nats.Conn, cfg Config, client, id, command, status string, data []byte, errText string, deliveries int) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(cfg.resultSubject(client, id))
	msg.Data = data
	msg.Header.Set(hdrStatus, status)
	msg.Header.Set(hdrCommand, command)
	msg.Header.Set(hdrDeliveries, strconv.Itoa(deliveries))
	if errText != "" {
		msg.Header.Set(hdrError, headerText(errText))
	}
	msg.Header.Set(nats.MsgIdHdr, id)
	if size, limit := len(data)+headerSize(msg.Header), nc.MaxPayload(); int64(size) > limit {
		return &tooLarge{size: int64(size), limit: limit}
	}
	_, err = js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithRetryAttempts(3))
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		// No stream took it (the server lost its storage, or someone
		// deleted the stream): nothing was stored. Make the streams again
		// and store it, rather than fail the task's every run.
		if err = ensureStreams(ctx, js, cfg); err == nil {
			_, err = js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithRetryAttempts(3))
		}
	}
	return err
}

// tooLarge is publishResult's error for a result larger than the server
// accepts.
type tooLarge struct{ size, limit int64 }

func (e *tooLarge) Error() string {
	return fmt.Sprintf("the reply is %d bytes encoded with its headers, the server accepts at most %d", e.size, e.limit)
}

// maxErrorText bounds the error text a result carries in its header.
const maxErrorText = 4096

// headerText cuts s to at most maxErrorText bytes, saying how many it
// left out: a result must fit the server's maximum payload.
func headerText(s string) string {
	if len(s) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + fmt.Sprintf("… (%d bytes more)", len(s)-cut)
	}
	return s
}
