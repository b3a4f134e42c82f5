package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: Ctrl-C (or SIGTERM) while the pool's workers run. The tasks still
// queued then end with mp.ErrStopped in Done, and the example used to
// return that as its error: it printed `pool: manager: task "square-1":
// stopped` and exited 1, where the README says a program stopped by Ctrl-C
// runs its clean-up and exits 130 (143 for SIGTERM). The built example is
// held still as soon as its first worker is being started
// (proctest.SignalMidRun), gets the signal, and must exit 130 or 143, say
// only what stopped it (no "stopped" task error, no manager warning), and
// leave no worker behind. The signal nearly always finds the tasks still
// queued (nothing printed); when the tasks won the race instead (every
// result printed, the same status; or status 0 when the frontend was held
// on its way out, past its last look at the signal), it tries again, up to
// 5 runs, until one was cut short, and fails if none was. The old code
// exits 1 when cut short and 0 otherwise, so it fails either way.
func TestSignalStopsThePool(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pool")
	build, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", build)
	var all strings.Builder
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&all, "%d squared is %d\n", i, i*i)
	}
	all.WriteString("sum 204, on 3 workers\n")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			var missed []string
			for range 5 {
				how := interruptMidRun(t, bin, sig, all.String())
				if how == "" {
					return
				}
				missed = append(missed, how)
			}
			t.Fatalf("in 5 runs, the signal never came before the tasks were done: %s", strings.Join(missed, "; "))
		})
	}
}

// interruptMidRun runs the pool once, stops it with sig as
// TestSignalStopsThePool says, checks how it ended against all, the output
// of a whole run, and returns "" when the signal found tasks not yet done,
// else what happened instead.
func interruptMidRun(t *testing.T, bin string, sig syscall.Signal, all string) string {
	t.Helper()
	run := proctest.SignalMidRun(t, bin, sig)
	switch {
	case !run.Held:
		require.Zero(t, run.Status, "stderr:\n%s", run.Stderr)
		return "it ended before it was held with a worker"
	case run.Status == 0:
		// Held after its last look at ctx, on its way out: the signal
		// came too late to matter, as it may for any program.
		assert.Equal(t, all, run.Stdout)
		assert.Empty(t, run.Stderr)
		return "held on its way out: status 0"
	}
	assert.Equal(t, 128+int(sig), run.Status, "stderr:\n%s", run.Stderr)
	assert.Equal(t, "pool: "+sig.String()+" signal received\n", run.Stderr)
	if run.Stdout == "" {
		return ""
	}
	assert.Equal(t, all, run.Stdout, "a partial result")
	return "every task done before the signal"
}
