package mp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Stopping a backend is a ladder, each rung bounded by Options.StopTimeout:
//
//  1. close the command pipe: the backend's loop sees EOF, finishes the
//     handler it is running, runs PostRun and exits 0;
//  2. if it has not exited, SIGTERM: its context is cancelled and the loop
//     ends after the running handler;
//  3. if it still has not exited, SIGKILL.
//
// The same EOF also stops a backend whose frontend died without calling
// Close, and the parent-death signal (see spawn.go) covers a frontend that
// was killed outright.

// CloseSend closes the command pipe and returns without waiting: the backend
// handles what was already sent, then sees the pipe end and stops (a Call
// among those messages whose ctx ends still cancels its handler). Send and
// Call fail with ErrStopped afterwards. Wait, or Close, then waits for the
// exit.
func (p *Process) CloseSend() {
	p.reqOnce.Do(func() {
		if p.state.CompareAndSwap(stateRunning, stateStopping) {
			p.log.Debug("state stopping")
		}
		close(p.stopping)
		p.markEnding(EndRequested)
		p.conn.closeSend()
		// The cancel pipe stays open until the backend has exited: a
		// Call that gives up while its handler still runs cancels it.
	})
}

// Wait waits until the backend has exited and returns why: nil for a clean
// exit, otherwise an error wrapping ErrBackendDied or a *RemoteError. It
// returns ctx's error if ctx ends first (a backend that has exited already
// is reported, whatever ctx). Wait does not ask the backend to stop.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done: // first: an ended ctx does not hide an exit
		return p.exitErr
	default:
	}
	select {
	case <-p.done:
		return p.exitErr
	case <-ctx.Done():
		return opError("wait", p.name, context.Cause(ctx))
	}
}

// Close stops the backend and waits for it to exit: it closes the command
// pipe, sends SIGTERM if the backend has not exited StopTimeout later, and
// SIGKILL after another StopTimeout. It returns nil if the backend stopped
// cleanly, the backend's failure if it had already failed, or an error
// wrapping ErrBackendDied if it had to be killed. Calling Close again returns
// the same result. Close is Shutdown with a context that never ends.
func (p *Process) Close() error { return p.Shutdown(context.Background()) }

// Shutdown stops the backend as Close does, and returns as Close does. If
// ctx ends before the backend has exited, Shutdown sends SIGKILL at once and
// waits for the kernel to reap the process, which is quick. Concurrent calls
// of Close and Shutdown share one stop, and each returns when the backend is
// gone.
func (p *Process) Shutdown(ctx context.Context) error {
	p.CloseSend()
	p.ladderOnce.Do(func() { go p.ladder() })
	select {
	case <-p.done:
		return p.exitErr
	case <-ctx.Done():
	}
	p.kill(context.Cause(ctx), lastRung{})
	<-p.done // SIGKILL cannot be ignored; WaitDelay bounds the rest
	return p.exitErr
}

// ladder climbs the rungs that follow the close of the command pipe, once
// per process, until the backend has exited. A SIGTERM that Signal sent is
// the second rung already: the third, SIGKILL, comes StopTimeout after it
// (and not before StopTimeout after the close of the command pipe).
func (p *Process) ladder() {
	if p.waitFor(p.stopTimeout) {
		return
	}
	p.mu.Lock()
	termAt := p.termAt
	p.mu.Unlock()
	signalled := !termAt.IsZero()
	if !signalled {
		p.log.Warn(fmt.Sprintf("still running %v after its command pipe was closed: sending SIGTERM", p.stopTimeout))
		p.cmd.Process.Signal(syscall.SIGTERM)
		termAt = time.Now()
	}
	if p.waitFor(time.Until(termAt.Add(p.stopTimeout))) {
		return
	}
	last := lastRung{since: p.stopTimeout, bySignal: signalled}
	if signalled { // maybe long before Close
		last.since = time.Since(termAt).Round(time.Millisecond)
	}
	p.kill(nil, last)
}

// lastRung is how the stop ladder came to SIGKILL: how long the backend
// had outlived SIGTERM, and whether Signal had sent that SIGTERM (the
// ladder's own comes StopTimeout after the close of the command pipe).
type lastRung struct {
	since    time.Duration
	bySignal bool
}

func (r lastRung) String() string {
	if r.bySignal {
		return fmt.Sprintf("%v after the SIGTERM that Signal sent", r.since)
	}
	return fmt.Sprintf("%v after SIGTERM", r.since)
}

// kill sends SIGKILL, once, unless the backend has exited already; cause is
// the Shutdown context's cause when that is why, nil when the ladder's last
// rung (last) is.
func (p *Process) kill(cause error, last lastRung) {
	p.killOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		if cause != nil {
			p.log.Warn(fmt.Sprintf("shutdown: %v: sending SIGKILL", cause))
		} else {
			p.log.Warn(fmt.Sprintf("still running %v: sending SIGKILL", last))
		}
		p.mu.Lock()
		p.killed, p.killedBy, p.killedRung = true, cause, last
		p.mu.Unlock()
		p.cmd.Process.Kill()
	})
}

// waitFor waits up to d for the backend to exit, and reports whether it did.
func (p *Process) waitFor(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// Signal sends sig to the backend: SIGTERM cancels the context of the
// handler it runs (and ends its loop), without the first rung of the stop
// ladder, which would wait for that handler; it counts as the ladder's
// second rung, so a Close that follows sends SIGKILL StopTimeout after it. The signal goes through the
// process's pidfd, so it never reaches another process that reuses the PID.
// Once the backend has exited, Signal fails with ErrBackendDied (or
// ErrStopped after a requested stop).
func (p *Process) Signal(sig os.Signal) error {
	first := false
	if sig == syscall.SIGTERM {
		p.mu.Lock()
		if first = p.termAt.IsZero(); first {
			p.termAt = time.Now()
		}
		p.mu.Unlock()
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		if first { // none went out: the backend did not exit on it
			p.mu.Lock()
			p.termAt = time.Time{}
			p.mu.Unlock()
		}
		if errors.Is(err, os.ErrProcessDone) {
			err = p.deathError()
		}
		return opError(fmt.Sprintf("signal %v", sig), p.name, err)
	}
	return nil
}
