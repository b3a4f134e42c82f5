package mp

import "sync"

// inbox is the queue between a process's reader and the goroutine that
// delivers to Messages (deliver). Pushing never blocks, so the reader never
// waits and a reply never waits behind a message. Its length is bounded by
// the backend's credits (credits.go), its pre-run hook's messages included.
//
// The deliverer runs only while messages wait: the reader starts one when
// it pushes into an empty inbox with none running, and it ends when the
// inbox is empty. An idle process costs no goroutine for it.
type inbox struct {
	mu      sync.Mutex
	items   []Message
	closed  bool
	running bool // a deliverer runs, or the closer finishes
}

func newInbox() *inbox { return &inbox{} }

// push queues m and reports whether the caller must start a deliverer.
func (q *inbox) push(m Message) (start bool) {
	q.mu.Lock()
	q.items = append(q.items, m)
	start = !q.running
	q.running = true
	q.mu.Unlock()
	return start
}

// close says that no more messages come. It reports whether the caller
// finishes the delivery (closes Messages): true when no deliverer runs;
// otherwise the deliverer does, once the inbox is empty.
func (q *inbox) close() (finish bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	finish = !q.running
	q.running = true
	return finish
}

// next returns the oldest message (ok). Otherwise the deliverer ends: it
// reports, in finish, whether the inbox is closed, in which case the
// deliverer finishes the delivery.
func (q *inbox) next() (m Message, ok, finish bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		if !q.closed {
			q.running = false
		}
		return Message{}, false, q.closed
	}
	m = q.items[0]
	q.items[0] = Message{}
	if q.items = q.items[1:]; len(q.items) == 0 {
		q.items = nil
	}
	return m, true, false
}
