package mp

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
)

// reap reaps the child once its message pipe has ended (so it is exiting,
// and cmd.Wait returns at once), works out why it exited, and closes Done.
func (p *Process) reap() {
	p.endGroup()
	werr := p.cmd.Wait()
	if errors.Is(werr, exec.ErrWaitDelay) {
		// The backend exited cleanly, but something it started still
		// holds its stdout or stderr: that is not the backend's failure.
		p.log.Warn("exited, but a process it started still holds its output; no longer copying it")
		werr = nil
	}
	p.setExit()
	p.markEnding(EndDied) // unless a reason was known before
	p.mu.Lock()
	remote, killed, killedBy, rung := p.remote, p.killed, p.killedBy, p.killedRung
	p.mu.Unlock()
	switch {
	case remote != nil:
		p.exitErr = remote
	case werr != nil && killedBy != nil:
		p.exitErr = opError("stop", p.name, fmt.Errorf("killed: the shutdown's context ended before it stopped (%w): %w", killedBy, ErrBackendDied))
	case werr != nil && killed:
		within := fmt.Sprint(2 * p.stopTimeout)
		if rung.bySignal {
			within = fmt.Sprintf("%v of the SIGTERM that Signal sent", rung.since)
		}
		p.exitErr = opError("stop", p.name, fmt.Errorf("did not stop within %s and was killed: %w", within, ErrBackendDied))
	case werr != nil && p.state.Load() == stateStopping && isSignal(werr, syscall.SIGTERM):
		p.exitErr = nil // asked to terminate, and it did
	case werr != nil:
		p.exitErr = opError("run", p.name, fmt.Errorf("%v: %w", werr, ErrBackendDied))
	}
	if p.events != nil {
		p.events.close()
	}
	p.setState(stateExited) // before closing: a Send failing now sees a death
	p.conn.close()
	if p.exitErr != nil {
		p.log.Debug("exited", "err", p.exitErr)
	}
	close(p.done)
}

func isSignal(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return ws.Signaled() && ws.Signal() == sig
		}
	}
	return false
}
