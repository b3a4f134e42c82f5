package mp

// control handles a frame the backend sends about itself on the message
// pipe (see frontConn.route): that it is ready, that a handler failed,
// that it fails, or that it is ending. It reports false for a kind that has
// no business on the pipe. Only the holder of the pipe's token calls it.
func (p *Process) control(fr frame) bool {
	switch fr.kind {
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
		return false
	}
	return true
}

// fail records the first fatal error and fails the calls waiting for a reply.
func (p *Process) fail(err error) {
	p.mu.Lock()
	if p.remote == nil {
		p.remote = err
	}
	p.mu.Unlock()
	p.conn.failCalls(err)
}

// badData records that the backend sent bad data (err), fails the calls
// waiting and kills the backend.
func (p *Process) badData(err error) {
	p.fail(err)
	p.cmd.Process.Kill()
}
