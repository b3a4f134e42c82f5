package mp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: Wait with a ctx that has ended, on a process that has exited
// already (a caller that saw Done in a select beside its ctx, say). Wait's
// select found both ready and picked either: about half the Waits returned
// ctx's error instead of how the process ended. The exit is reported.
func TestWaitAfterTheExitIgnoresAnEndedCtx(t *testing.T) {
	p := startTest(t, Options{})
	require.NoError(t, p.Close())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 64 {
		assert.NoError(t, p.Wait(ctx), "Wait %d", i)
	}
}
