package mp

import "fmt"

// deliver moves messages from the inbox to Messages, waiting for room
// unless the process is being stopped, in which case an unread message is
// dropped (the first with a warning, the rest counted in one). Every
// message delivered or dropped earns the backend a credit back (see
// credits.go). What an exited backend sent waits for a reader, or for Close.
// It runs while messages wait (see inbox); the last run closes Messages once
// the exit is accounted for.
func (p *Process) deliver() {
	for {
		m, ok, finish := p.inbox.next()
		if !ok {
			if finish {
				p.finishDelivery()
			}
			return
		}
		select {
		case p.msgs <- m:
		default:
			select {
			case p.msgs <- m:
			case <-p.stopping:
				if p.drops++; p.drops == 1 {
					p.dropped(m)
				}
			}
		}
		p.queued.Add(-1) // after the send: the reader's short way keeps the order
		p.delivered()
	}
}

// finishDelivery closes Messages once the exit is accounted for.
func (p *Process) finishDelivery() {
	if p.drops > 1 {
		p.log.Warn(fmt.Sprintf("dropped %d messages in all while the process stopped", p.drops))
	}
	<-p.done
	close(p.msgs)
}

// delivered counts a message delivered (or dropped), and gives the backend
// a batch of credits back every buffer's worth.
func (p *Process) delivered() {
	batch := int64(max(p.window/creditsPerBuffer, 1))
	if p.owed.Add(1) >= batch {
		if k := p.owed.Swap(0); k > 0 {
			p.giveCredits(int(k))
		}
	}
}

// giveCredits gives the backend k credits back, unless it is gone.
func (p *Process) giveCredits(k int) {
	rc, err := p.credits.SyscallConn()
	if err != nil {
		return // closed: the backend has exited
	}
	rc.Control(func(fd uintptr) { giveCredits(int(fd), k) })
}

// dropped logs the first message dropped; the others are only counted.
func (p *Process) dropped(m Message) {
	p.log.Warn(fmt.Sprintf("dropped message %q: Messages is full and the process is stopping (further drops are counted)", m.Command))
}
