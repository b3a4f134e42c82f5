package manager

import (
	"fmt"
	"time"
)

// Restart says when a worker whose process exited is started again, in the
// terms of Erlang/OTP supervisors.
type Restart int

const (
	// Permanent workers are always started again: after a failure (with a
	// backoff), after ending themselves (at once, or with a backoff if
	// they took no task), after a stop by the manager (at once).
	Permanent Restart = iota
	// Transient workers are started again only after a failure or a stop
	// by the manager (a task timeout), not after ending themselves
	// (Backend.Stop) or being terminated from outside.
	Transient
	// Temporary workers are never started again.
	Temporary
)

// String returns "permanent", "transient" or "temporary".
func (r Restart) String() string {
	switch r {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return fmt.Sprintf("Restart(%d)", int(r))
}

// failure counts a failure of w (last says which) against the restart
// intensity. If the limit is reached it stops the manager and reports
// false; otherwise it returns the backoff before w's restart. Only
// failures count: a crash, a kill, an exit without saying why, a restart
// that failed. A worker the manager stopped, or that ended itself, did not
// fail, as in OTP, whose intensity counts children that terminated.
func (m *Manager) failure(w *Worker, last error) (time.Duration, bool) {
	now := time.Now()
	recent := m.failures[:0]
	for _, t := range m.failures {
		if now.Sub(t) < m.cfg.Period {
			recent = append(recent, t)
		}
	}
	m.failures = append(recent, now)
	if len(m.failures) > m.cfg.MaxRestarts {
		m.stop(fmt.Errorf("manager: %w: %d failures within %v (the limit is %d); last: %w",
			ErrRestartIntensity, len(m.failures), m.cfg.Period, m.cfg.MaxRestarts, last))
		return 0, false
	}
	return m.backoff(w), true
}

// backoff returns the wait before w's next restart, doubling with each
// consecutive one (failures, and ends before any task) up to MaxBackoff.
func (m *Manager) backoff(w *Worker) time.Duration {
	delay := m.cfg.Backoff << min(w.consecutive, 30)
	if delay > m.cfg.MaxBackoff || delay <= 0 {
		delay = m.cfg.MaxBackoff
	}
	w.consecutive++
	return delay
}

// restartIn starts w again after delay (at once if it is zero).
func (m *Manager) restartIn(w *Worker, delay time.Duration) {
	if delay <= 0 {
		m.start(w)
		return
	}
	m.starting++ // counted from now, so that a stop waits for it
	w.restart = time.AfterFunc(delay, func() { m.send(event{kind: evRestart, w: w}) })
}

// restartNow handles the end of w's backoff.
func (m *Manager) restartNow(w *Worker) {
	w.restart = nil
	m.starting--
	if m.stopping {
		return
	}
	if e := w.pending; e != nil {
		// An exit whose report waited for the backoff (afterExit).
		w.pending = nil
		m.log.Warn(e.String())
		if m.cfg.OnExit != nil {
			m.callback(func() { m.cfg.OnExit(w, e) })
		}
	}
	m.log.Debug("restarting", "worker", w.name)
	m.start(w)
}

// cancelRestarts stops the backoff timers, at shutdown.
func (m *Manager) cancelRestarts() {
	for _, w := range m.workers {
		if w.restart != nil && w.restart.Stop() {
			w.restart = nil
			w.pending = nil // part of the stop: nothing to report
			m.starting--
		}
	}
}
