package manager

import (
	"fmt"

	"github.com/mpgo/mp/mp"
)

// deliver passes msgs, messages of worker w, to OnMessage in order, each
// numbered as a callback (see sendMessages). Once the stop's deadline has
// passed (ShutdownTimeout after the stop began, or Force closed), it drops
// the rest and counts them instead: however slow the callbacks and however
// many messages wait, the stop ends within its bound.
func (m *Manager) deliver(w *Worker, msgs []mp.Message) {
	if m.cfg.OnMessage == nil {
		return
	}
	for i, msg := range msgs {
		if m.noticeStop() {
			m.drop(w, len(msgs)-i)
			return
		}
		m.callbacks++
		m.inCallback.Store(m.callbacks)
		m.cfg.OnMessage(w, msg)
		m.inCallback.Store(0)
	}
}

// deliverWatched runs fn, which passes a value of a watched channel to its
// function, as deliver passes a message: once the stop's deadline has
// passed, it drops the value and counts it instead.
func (m *Manager) deliverWatched(fn func()) {
	if m.noticeStop() {
		m.droppedValues++
		return
	}
	m.callback(fn)
}

// noticeStop does, between two messages of a batch, what the loop does when
// Run's ctx ends or Force is closed, so that a batch of slow callbacks
// (up to 256 of them) delays neither the stop nor its deadline. It reports
// whether the stop's deadline has passed: the messages left are dropped.
func (m *Manager) noticeStop() (drop bool) {
	if !m.stopping {
		if m.runCtx.Err() == nil {
			return false
		}
		m.stop(nil)
	}
	if m.cfg.Force != nil && isClosed(m.cfg.Force) {
		m.forceStop()
	}
	return m.stopCtx.Err() != nil
}

// drop counts n messages of w that OnMessage will not see.
func (m *Manager) drop(w *Worker, n int) {
	if m.dropped == 0 {
		m.droppedFrom = map[*Worker]bool{}
	}
	m.dropped += n
	m.droppedFrom[w] = true
}

// reportDropped says, once the stop is over, how many messages and values
// of watched channels were dropped, and why.
func (m *Manager) reportDropped() {
	if m.dropped == 0 && m.droppedValues == 0 {
		return
	}
	why := fmt.Sprintf("when the stop's deadline passed (ShutdownTimeout %v)", m.cfg.ShutdownTimeout)
	if m.forced {
		why = "when the stop was forced"
	}
	if m.dropped > 0 {
		m.log.Warn(fmt.Sprintf("dropped %s of %s that OnMessage had not taken %s", messages(m.dropped), workers(len(m.droppedFrom)), why))
	}
	if m.droppedValues > 0 {
		m.log.Warn(fmt.Sprintf("dropped %s of watched channels that their function had not taken %s", values(m.droppedValues), why))
	}
}

// messages says "1 message" or "n messages", for the log.
func messages(n int) string {
	if n == 1 {
		return "1 message"
	}
	return fmt.Sprintf("%d messages", n)
}

// values says "1 value" or "n values", for the log.
func values(n int) string {
	if n == 1 {
		return "1 value"
	}
	return fmt.Sprintf("%d values", n)
}
