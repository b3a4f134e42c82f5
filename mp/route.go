package mp

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// read reads the message pipe whenever no Call reads it (msgpipe.go),
// routing replies to their calls, messages to Messages and failures to the
// log and to Wait. It never blocks on anything but the pipe, so a reply is
// never held up. When the pipe ends, the backend has exited: read reaps it.
func (p *Process) read() {
	defer func() {
		finish := p.inbox.close()
		p.wait()
		if finish {
			p.finishDelivery()
		}
	}()
	m := p.pipe
	defer m.f.Close() // with the token, kept: no caller reads a closed descriptor
	for {
		if err := m.await(); err != nil {
			return
		}
		var err error
		for err == nil {
			err = p.routeOne(m.next) // drain the pipe
		}
		if m.broken.Load() {
			m.f.SetReadDeadline(time.Time{})
			io.Copy(io.Discard, m.f) // until the killed backend's pipe ends
			return
		}
		if !errors.Is(err, errNoData) {
			return // the pipe's end
		}
		m.tok.Store(false)
	}
}

// routeOne reads a frame with next (msgPipe.next or nextWhole) and routes
// it. It returns next's errNoData or errNotWhole as they are (nothing was
// read), and any other failure (the pipe's end, bad data, a frame that
// has no business on the pipe) once readFailed has handled it.
func (p *Process) routeOne(next func() (frame, error)) error {
	fr, err := next()
	switch {
	case errors.Is(err, errNoData), errors.Is(err, errNotWhole):
		return err
	case err == nil && p.route(fr):
		return nil
	}
	p.readFailed(err)
	if err == nil {
		err = ErrBadFrame
	}
	return err
}

// readFailed handles what a read of the message pipe ended with (err, or
// nil for a frame of a kind that has no business there): the pipe's end,
// or bad data, for which the backend is killed.
func (p *Process) readFailed(err error) {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The pipe ended inside a frame: the backend died (killed,
		// typically) while it wrote. That is a death, which wait reports
		// with the exit status, not bad data.
		p.log.Debug("message pipe ended inside a frame", "err", err)
	case errors.Is(err, io.EOF):
	case err == nil:
		// route has killed the backend.
		p.pipe.broken.Store(true)
	default:
		// The stream is lost: nothing after this can be trusted.
		p.pipe.broken.Store(true)
		p.log.Error(fmt.Sprintf("bad data from backend, killing it: %v", err))
		p.fail(fmt.Errorf("bad data from %q: %w: %w", p.name, ErrBackendDied, err))
		p.cmd.Process.Kill()
	}
}

// route delivers one frame read from the message pipe. It reports false
// for a frame of a kind that has no business there, after killing the
// backend. Only the holder of the pipe's token calls it, so frames are
// routed in the order they came.
func (p *Process) route(fr frame) bool {
	switch fr.kind {
	case kindMessage:
		m := Message{Command: fr.command, Params: fr.params}
		// The short way, when nothing waits before this message and
		// the channel has room: straight into Messages, no hand-off.
		if p.queued.Load() == 0 {
			select {
			case p.msgs <- m:
				p.delivered()
				return true
			default:
			}
		}
		p.queued.Add(1)
		if p.inbox.push(m) {
			go p.deliver()
		}
	case kindReply:
		p.mu.Lock()
		ch := p.pending[fr.id]
		delete(p.pending, fr.id)
		p.mu.Unlock()
		if ch == nil {
			p.log.Debug("reply after its call gave up", "command", fr.command, "id", fr.id)
			return true
		}
		ch <- callResult{fr: fr}
	case kindError:
		re := &RemoteError{Process: p.name, Command: fr.command, Code: fr.code, Msg: fr.errText, Sentinel: sentinelOf(fr.params)}
		p.log.Warn(re.Error())
	case kindReady:
		if !p.sawReady {
			p.sawReady = true
			close(p.ready)
		}
	case kindFatal:
		re := &RemoteError{Process: p.name, Command: fr.command, Code: fr.code, Msg: fr.errText}
		p.markEnding(EndFatal)
		p.fail(re)
	case kindEnding:
		r := EndReason(fr.code)
		if r != EndSelf && r != EndTerminated {
			r = EndDied // a reason the backend has no business giving
		}
		if r == EndTerminated && p.stopRequested() {
			r = EndRequested // the ladder's SIGTERM
		}
		p.markEnding(r)
	default:
		p.log.Error(fmt.Sprintf("unexpected frame kind %d from backend, killing it", fr.kind))
		p.fail(fmt.Errorf("bad data from %q: frame kind %d: %w: %w", p.name, fr.kind, ErrBackendDied, ErrBadFrame))
		p.cmd.Process.Kill()
		return false
	}
	return true
}

// fail records the first fatal error and fails the calls waiting for a reply.
func (p *Process) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.remote == nil {
		p.remote = err
	}
	for id, ch := range p.pending {
		ch <- callResult{err: err}
		delete(p.pending, id)
	}
}
