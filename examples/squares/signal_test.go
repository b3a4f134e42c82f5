package main

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/require"
)

// squaresOut is what a whole run prints on stdout, line by line.
var squaresOut = []string{
	`data: \[1 2 3 4 5 6 7 8\]`,
	`progress: 2 of 4 squared`,
	`progress: 4 of 4 squared`,
	`square returned sum 30; data: \[1 4 9 16 5 6 7 8\]`,
	`negated; data: \[-1 -4 -9 -16 -5 -6 -7 -8\]`,
}

// Fault: Ctrl-C (or SIGTERM) while squares runs. Its calls then fail with
// the context's error, and the example used to print that error and exit
// 1, where the README says a program stopped by Ctrl-C runs its clean-up
// and exits 130 (143 for SIGTERM); a signal after its last call was not
// even noticed (status 0). The built example is held still with SIGSTOP
// once its backend has been forked (the whole run takes a few
// milliseconds), gets the signal, is let go, and must exit 130 or 143,
// say only what stopped it, print no more than the start of its output,
// and leave no backend behind. When it ended before it could be held, or
// finished everything before the signal was handled (status 0 and the
// whole output), it tries again, up to 5 runs (proctest.SignalStopsMidRun,
// as examples/pool's TestSignalStopsThePool).
func TestSignalStopsSquares(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "squares")
	build, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", build)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			proctest.SignalStopsMidRun(t, bin, "squares", sig, squaresOut)
		})
	}
}
