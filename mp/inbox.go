package mp

import "sync"

// inbox is the queue between a process's reader and the goroutine that
// delivers to Messages. Pushing never blocks, so the reader never waits and
// a reply never waits behind a message. Its length is bounded by the
// backend's credits (credits.go), its pre-run hook's messages included.
type inbox struct {
	mu     sync.Mutex
	items  []Message
	closed bool
	notify chan struct{} // holds a token when items or closed changed
}

func newInbox() *inbox { return &inbox{notify: make(chan struct{}, 1)} }

func (q *inbox) push(m Message) {
	q.mu.Lock()
	q.items = append(q.items, m)
	q.mu.Unlock()
	q.signal()
}

// close says that no more messages come; pop returns false once the inbox
// is empty.
func (q *inbox) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *inbox) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// pop returns the oldest message, waiting for one; false once the inbox is
// closed and empty.
func (q *inbox) pop() (Message, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			m := q.items[0]
			q.items[0] = Message{}
			if q.items = q.items[1:]; len(q.items) == 0 {
				q.items = nil
			}
			q.mu.Unlock()
			return m, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return Message{}, false
		}
		<-q.notify
	}
}
