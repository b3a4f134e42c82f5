package main

import (
	"context"
	"sync"
)

// turns makes test mode's output independent of the machine's load: a task
// that is done waits, before its Do returns, until no task still in flight
// is planned to end before it. The manager then sees the tasks end, runs
// their Done (which prints and submits the next) and frees their workers in
// the order of their planned ends, as on an idle machine: the same lines,
// in the same order, the same worker for each task. (Work times alone,
// however far apart, only made that likely: a loaded machine delayed one
// worker by more than the gap.) A task that failed does not wait.
type turns struct {
	on      bool
	mu      sync.Mutex
	planned map[int]float64 // the tasks in flight: their planned ends
	changed chan struct{}   // closed, and replaced, when one of them is done
}

func newTurns(on bool) *turns {
	return &turns{on: on, planned: map[int]float64{}, changed: make(chan struct{})}
}

// add notes a task about to be submitted, and when it is planned to end.
// (If the submit fails, the manager is stopping: it ends every Do's
// context, and with it every wait.)
func (t *turns) add(task int, end float64) {
	if !t.on {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.planned[task] = end
}

// done notes that the manager has seen task end (its Done has run).
func (t *turns) done(task int) {
	if !t.on {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.planned, task)
	close(t.changed)
	t.changed = make(chan struct{})
}

// wait returns when task is the next to end, or with ctx's error when the
// run stops first.
func (t *turns) wait(ctx context.Context, task int) error {
	if !t.on {
		return nil
	}
	for {
		t.mu.Lock()
		first, changed := true, t.changed
		for other, end := range t.planned {
			if other != task && end < t.planned[task] {
				first = false
				break
			}
		}
		t.mu.Unlock()
		if first {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
