package manager

import (
	"github.com/mpgo/mp/mp"
)

// An event is one thing the loop learns: everything that happens reaches
// the loop as one of these, on one channel.
type event struct {
	kind eventKind
	w    *Worker
	proc *mp.Process
	msgs []mp.Message
	task *running
	err  error
	fn   func()
}

type eventKind uint8

const (
	evStarted  eventKind = iota + 1 // a start ended: proc, or err
	evMessages                      // messages of w's proc
	evEnding                        // w's proc announced its end
	evExit                          // w's proc exited
	evTaskDone                      // task's Do returned err
	evTimeout                       // task ran past its Timeout
	evRestart                       // w's backoff is over
	evFunc                          // run fn (the manager's own)
	evWatched                       // a watched channel delivered: run fn, as deliver would
)

// handle runs on the loop.
func (m *Manager) handle(ev event) {
	switch ev.kind {
	case evStarted:
		m.started(ev.w, ev.proc, ev.err)
	case evMessages:
		m.deliver(ev.w, ev.msgs)
	case evEnding:
		m.idleEnding(ev.w, ev.proc)
	case evExit:
		m.exited(ev.w, ev.proc)
	case evTaskDone:
		m.taskDone(ev.task, ev.err)
	case evTimeout:
		m.timeout(ev.task)
	case evRestart:
		m.restartNow(ev.w)
	case evFunc:
		m.callback(ev.fn)
	case evWatched:
		m.deliverWatched(ev.fn)
	}
}
