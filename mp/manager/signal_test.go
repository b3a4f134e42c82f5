package manager_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp/manager"
)

// Fault: the stop function of Signals closed its channel after a select
// that saw it open, so two calls at the same moment (a deferred stop and
// one on an error path, in two goroutines) could both close it: "close of
// closed channel", a panic that ends the program. Eight goroutines,
// released together, call stop in each of 10,000 rounds (the window is a
// few instructions wide: without the fix a run fails within a few thousand
// rounds, at once under -race); every call must return without a panic,
// the context must have ended, and a later call must do nothing.
func TestFaultSignalsStopCalledTwiceAtOnce(t *testing.T) {
	const callers = 8
	for round := range 10000 {
		ctx, _, stop := manager.Signals(context.Background())
		go0 := make(chan struct{})
		panics := make(chan string, callers)
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					if v := recover(); v != nil {
						panics <- fmt.Sprint(v)
					}
				}()
				<-go0
				stop()
			}()
		}
		close(go0)
		wg.Wait()
		close(panics)
		for p := range panics {
			require.Failf(t, "stop panicked", "round %d: %s", round, p)
		}
		require.Error(t, ctx.Err(), "round %d: the context has not ended", round)
		assert.NotPanics(t, stop, "a third call")
	}
}
