package mp

import (
	"context"
	"fmt"
	"time"
)

// EndReason says why a process is ending, or ended, as far as its frontend
// knows. The first reason known wins: a backend that gets SIGTERM from the
// stop ladder ends because the frontend asked (EndRequested), not because of
// the signal.
type EndReason uint8

const (
	// EndNone: the process is running, and nobody said it would end.
	EndNone EndReason = iota
	// EndRequested: the frontend asked it to stop (CloseSend, Close,
	// Shutdown).
	EndRequested
	// EndSelf: the backend chose to end (Backend.Stop), and said so before
	// the reply of the handler that chose it.
	EndSelf
	// EndTerminated: the backend received SIGTERM that came with no stop
	// its frontend asked for (kill, systemctl stop, a parent-death signal,
	// or Process.Signal), and said so before the reply of the handler it
	// interrupted.
	EndTerminated
	// EndFatal: the backend reported a fatal error (a handler panicked, its
	// pre-run hook failed, it received bad data) and exits because of it.
	EndFatal
	// EndDied: it exited without saying why first: killed (SIGKILL, the
	// out-of-memory killer), crashed in the Go runtime, or os.Exit.
	EndDied
)

var endReasons = [...]string{"running", "stopped by its frontend", "ended itself", "terminated by a signal from outside", "failed", "died"}

// String says the reason in a few words, e.g. "ended itself".
func (r EndReason) String() string {
	if int(r) < len(endReasons) {
		return endReasons[r]
	}
	return fmt.Sprintf("EndReason(%d)", int(r))
}

// Ending returns a channel that is closed once the process is known to be on
// its way out (EndReason says why): the frontend asked it to stop, the
// backend announced its end, or it exited. The backend announces its end
// before the reply of the handler that caused it, and frames are handled in
// the order they were written, so a Call that returns such a reply returns
// after Ending is closed: a caller can tell at once whether the process
// that answered is still there for the next call.
func (p *Process) Ending() <-chan struct{} { return p.ending }

// EndReason says why the process is ending or has ended; EndNone while it
// runs and nobody said otherwise.
func (p *Process) EndReason() EndReason {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.endReason
}

// markEnding records why the process ends, if no reason is known yet, and
// closes Ending.
func (p *Process) markEnding(r EndReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.endReason != EndNone {
		return
	}
	p.endReason = r
	p.log.Debug("ending: " + r.String())
	close(p.ending)
}

// announceEnd tells the frontend, once, that the backend is ending and why,
// before anything else it writes from then on: Backend.Stop, SIGTERM and the
// replies that follow them call it. The write is bounded: a frontend that
// no longer reads learns it from the exit.
func (b *Backend) announceEnd(r EndReason) {
	b.endOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := b.conn.write(ctx, &frame{kind: kindEnding, code: ErrorCode(r)}); err != nil {
			b.log.Debug("could not announce the end", "err", err)
		}
	})
}
