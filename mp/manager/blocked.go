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
// what happened: a worker's messages that wait for the loop for longer
// than Config.StillAlive get a warning.

// sendMessages delivers the event ev, messages of worker w, to the loop as
// send does, warning once if the loop takes none of them for StillAlive.
func (m *Manager) sendMessages(ev event) {
	select {
	case m.events <- ev:
		return
	case <-m.quit:
		return
	default:
	}
	var warn <-chan time.Time
	if m.cfg.StillAlive > 0 {
		t := time.NewTimer(m.cfg.StillAlive)
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
			warn = nil
			m.log.Warn(fmt.Sprintf("%s's messages have waited %v for the loop: a callback (OnMessage, OnReady, OnExit or a Watch function) has not returned; one that waits for a worker while it sends (a Call) waits forever, since the worker's Send waits for the loop: call from a goroutine of your own, or with a deadline", ev.w.name, m.cfg.StillAlive))
		}
	}
}
