package mp

import (
	"time"
)

// A backend that sends messages in a burst gathers them into fewer writes:
// one write(2) per message costs more than the message itself, in both
// processes (docs/benchmarks.md, the manager's fan-in). The rule, in the
// manner of Nagle's algorithm, with a bound on the delay:
//
//   - a message sent when nothing was written for gatherWindow goes out at
//     once, so a lone message waits for nothing;
//   - a message sent sooner after a write waits with the others, until
//     gatherMax bytes wait, another frame (a reply, an announcement of the
//     end) goes out behind them, the handler returns, Send has to wait for
//     credits, the backend exits through the library (frameWriter.seal:
//     nothing is gathered after it), or gatherWindow has passed since the
//     last write (a timer).
//
// Order is kept: every frame goes out behind the messages gathered before
// it, in the same write.

const (
	gatherWindow = 20 * time.Microsecond
	gatherMax    = 4 << 10
)

// gathering is a frameWriter's state for gathering messages; only the
// holder of the writer's turn touches it, but for armed's timer, which
// takes the turn itself.
type gathering struct {
	last  time.Duration // the last write, as time.Since(gatherEpoch)
	armed bool          // the timer will write what waits
	timer *time.Timer
}

// gatherMessages makes w gather messages.
func (w *frameWriter) gatherMessages() {
	g := &gathering{last: -gatherWindow}
	g.timer = time.AfterFunc(time.Hour, func() {
		w.turn <- struct{}{}
		g.armed = false
		w.writePending()
		<-w.turn
	})
	g.timer.Stop()
	w.gather = g
}

// hold reports whether fr, just appended to w's buffer, waits for a later
// write instead of going out now, and arms the timer if so.
func (g *gathering) hold(w *frameWriter, fr *frame) bool {
	if fr.kind != kindMessage || len(w.buf) >= gatherMax {
		return false
	}
	if time.Since(gatherEpoch)-g.last >= gatherWindow {
		return false
	}
	if !g.armed {
		g.armed = true
		g.timer.Reset(gatherWindow)
	}
	return true
}

// gatherEpoch is the origin of gathering.last: time.Since(gatherEpoch)
// reads one clock (the monotonic one), time.Now two.
var gatherEpoch = time.Now()

// wrote records a write.
func (g *gathering) wrote() { g.last = time.Since(gatherEpoch) }

// setPending sets how many bytes of gathered messages wait in w.buf. The
// caller holds the turn.
func (w *frameWriter) setPending(n int) {
	w.pending = n
	w.held.Store(n > 0)
}

// writeGathered writes the messages gathered so far, at once: the backend
// calls it when a handler returns and before Send waits for credits. With
// none gathered it returns at once, without the turn: what the caller
// gathered before the call is seen in w.held, and what another goroutine
// gathers meanwhile goes out with the timer (or the next write).
func (w *frameWriter) writeGathered() {
	if !w.held.Load() {
		return
	}
	w.turn <- struct{}{}
	w.writePending()
	<-w.turn
}
