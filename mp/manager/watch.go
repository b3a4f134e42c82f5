package manager

import (
	"context"
	"fmt"

	"github.com/mpgo/mp/mp"
)

// Watch adds channel ch to the manager's loop: each value received on it is
// passed to f, on the loop, like the workers' messages. It stops watching
// when ch is closed or the manager stops. Watch may be called before Run or
// while it runs; once the manager is stopping it returns an error wrapping
// mp.ErrStopped. (A listener, an eventfd or a timer of the program joins the
// loop this way.)
//
// During the stop, the values Watch has taken from ch still reach f, as
// the workers' messages reach OnMessage, until the stop's deadline
// (ShutdownTimeout) passes or Config.Force is closed; the rest are dropped,
// and a warning says how many (see Run). A value Watch has taken from ch
// just as the manager stops is passed to f if the loop is still running,
// and dropped if Run returns first: a sender cannot tell which from its
// send alone. A goroutine that sends on ch and then waits for f to answer
// must also stop waiting once Run has returned (select on a channel or
// context that ends then), or it may wait forever. f runs on the loop, as
// the callbacks of Config do: a panic in it is not recovered, and ends the
// program.
func Watch[T any](m *Manager, ch <-chan T, f func(T)) error {
	watch := func(ctx context.Context) {
		for {
			select {
			case v, ok := <-ch:
				if !ok {
					return
				}
				m.send(event{kind: evWatched, fn: func() { f(v) }})
			case <-ctx.Done():
				return
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return fmt.Errorf("manager: watch: %w", mp.ErrStopped)
	case m.running:
		m.goWatch(watch)
	default:
		m.extras = append(m.extras, watch)
	}
	return nil
}

// goWatch runs a watcher until the manager stops; with m.mu held.
func (m *Manager) goWatch(watch func(ctx context.Context)) {
	m.wg.Add(1)
	go func() { defer m.wg.Done(); watch(m.workCtx) }()
}
