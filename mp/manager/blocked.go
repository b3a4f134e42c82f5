package manager

import (
	"fmt"
	"time"
)

// A callback runs on the loop; while it runs, the loop takes no worker's
// messages. A callback that waits for a worker — a Call — while that worker
// sends can therefore wait forever: the worker's Send waits for room (flow
// control, see mp.Process.Messages), its loop for the Send, and the Call
// for the loop. The manager cannot end the callback's wait, but it says
// what happened: when a worker's messages have waited for the loop for
// Config.StillAlive while one callback ran all that time, a warning says
// so. A loop that is merely slower than the workers (its callbacks return,
// one after another) is flow control at work, and gets no warning.

// sendMessages delivers the event ev, messages of worker w, to the loop as
// send does, warning once if one callback runs all the time they wait.
func (m *Manager) sendMessages(ev event) {
	select {
	case m.events <- ev:
		return
	case <-m.quit:
		return
	default:
	}
	var warn <-chan time.Time
	running := m.inCallback.Load()
	if m.cfg.StillAlive > 0 {
		t := time.NewTicker(m.cfg.StillAlive)
		defer t.Stop()
		warn = t.C
	}
	for {
		select {
		case m.events <- ev:
			return
		case <-m.quit:
			return
		case <-warn:
			now := m.inCallback.Load()
			if now == 0 || now != running {
				running = now // look again after StillAlive
				continue
			}
			warn = nil
			m.log.Warn(fmt.Sprintf("%s's messages have waited %v for the loop, in one callback (OnMessage, OnReady, OnExit or a Watch function) all that time; one that waits for a worker while it sends (a Call) waits forever, since the worker's Send waits for the loop: call from a goroutine of your own, or with a deadline", ev.w.name, m.cfg.StillAlive))
		}
	}
}

// callback runs f, a callback of the program, on the loop, numbering it in
// m.inCallback while it runs (see sendMessages).
func (m *Manager) callback(f func()) {
	m.callbacks++
	m.inCallback.Store(m.callbacks)
	f()
	m.inCallback.Store(0)
}
