package mp

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// starts bounds the starts in progress, from their first descriptor to the
// exec of the child. A start holds eleven descriptors then, more with events
// or passed files (five stay once the child runs); a burst of a thousand at
// once would run into the descriptor limit (RLIMIT_NOFILE) or the process
// limit long before the machine is busy, so the rest wait their turn (or
// their ctx).
//
// Near the descriptor limit, the starts in progress hold descriptors that
// one of them may miss. A start that runs out of descriptors among others
// therefore tries once more alone, holding every slot: its failure then
// says that the running processes leave no room, not that other starts
// held the room for a moment.
var starts = newStartLimit(16)

// startLimit is a semaphore of size slots, served in order: a start that
// waits for every slot is not overtaken by later starts that take one. Its
// mutex guards used and queue.
type startLimit struct {
	size  int
	mu    sync.Mutex
	used  int
	queue []*startTurn
}

// startTurn is a start waiting for n slots; ready is closed once they are
// its own.
type startTurn struct {
	n     int
	ready chan struct{}
}

func newStartLimit(size int) *startLimit { return &startLimit{size: size} }

// acquire takes n slots, waiting behind earlier starts until they are free,
// or returns ctx's cause.
func (s *startLimit) acquire(ctx context.Context, n int) error {
	s.mu.Lock()
	if len(s.queue) == 0 && s.used+n <= s.size {
		s.used += n
		s.mu.Unlock()
		return nil
	}
	t := &startTurn{n: n, ready: make(chan struct{})}
	s.queue = append(s.queue, t)
	s.mu.Unlock()
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-t.ready: // served meanwhile: give the slots back
		s.used -= n
	default:
		s.queue = slices.DeleteFunc(s.queue, func(q *startTurn) bool { return q == t })
	}
	s.serve() // the starts behind t may fit now
	return context.Cause(ctx)
}

// release gives back n slots.
func (s *startLimit) release(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used -= n
	s.serve()
}

// serve hands free slots to the waiting starts, in order, while the first
// one fits.
func (s *startLimit) serve() {
	for len(s.queue) > 0 && s.used+s.queue[0].n <= s.size {
		t := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.used += t.n
		close(t.ready)
	}
}

// isFdLimit reports whether err says that the open-file limit was reached:
// EMFILE, or EBADF from a child that could not renumber its descriptors.
func isFdLimit(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.EBADF) && strings.Contains(err.Error(), "fork/exec")
}
