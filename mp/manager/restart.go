package manager

import (
	"fmt"
	"time"
)

// Restart says when a worker that exited is started again, in the terms of
// Erlang/OTP supervisors.
type Restart int

const (
	// Permanent workers are always restarted.
	Permanent Restart = iota
	// Transient workers are restarted only after an abnormal exit: a
	// signal, a non-zero status, a backend error, or a stop by the manager
	// (a task timeout).
	Transient
	// Temporary workers are never restarted.
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

// restartLater counts a restart of w against the intensity limit and, if
// the limit holds, starts w again after its backoff. why is the last exit,
// for the error that stops the manager when the limit is reached.
func (m *Manager) restartLater(w *Worker, why string) {
	now := time.Now()
	recent := m.restarts[:0]
	for _, t := range m.restarts {
		if now.Sub(t) < m.cfg.Period {
			recent = append(recent, t)
		}
	}
	m.restarts = append(recent, now)
	if len(m.restarts) > max(m.cfg.MaxRestarts, 0) {
		m.stop(fmt.Errorf("%w: %d restarts within %v (the limit is %d); last: %s",
			ErrRestartIntensity, len(m.restarts), m.cfg.Period, max(m.cfg.MaxRestarts, 0), why))
		return
	}
	delay := m.cfg.Backoff << min(w.consecutive, 30)
	if delay > m.cfg.MaxBackoff || delay <= 0 {
		delay = m.cfg.MaxBackoff
	}
	w.consecutive++
	m.log.Info(fmt.Sprintf("restarting %q in %v", w.name, delay))
	m.starting++ // counted from now, so that a stop waits for it
	w.restart = time.AfterFunc(delay, func() { m.send(event{kind: evRestart, w: w}) })
}

// restartNow handles the end of w's backoff.
func (m *Manager) restartNow(w *Worker) {
	w.restart = nil
	m.starting--
	if !m.stopping {
		m.start(w)
	}
}

// cancelRestarts stops the backoff timers, at shutdown.
func (m *Manager) cancelRestarts() {
	for _, w := range m.workers {
		if w.restart != nil && w.restart.Stop() {
			w.restart = nil
			m.starting--
		}
	}
}
