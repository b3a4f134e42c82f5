package chapters_test

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ladderHogHarness runs aux/ladder.py's main with --load, no build, and a
// subprocess.Popen that fails for the second competitor (as a fork failing
// with EAGAIN, or a SIGTERM raised in Popen, would): it prints whether the
// first competitor is still running once main has returned, then kills it
// whatever the answer, so that the test leaves nothing behind.
const ladderHogHarness = `
import subprocess, sys
sys.path.insert(0, "aux")
import ladder
real, hogs = subprocess.Popen, []
def popen(argv, *a, **k):
    if argv[:2] == ["sh", "-c"]:
        if hogs:
            raise OSError(11, "Resource temporarily unavailable")
        hogs.append(real(argv, *a, **k))
        return hogs[-1]
    return real(argv, *a, **k)
subprocess.Popen = popen
ladder.build = lambda tree, out: None
sys.argv = ["ladder.py", "--rounds", "1", "--n", "1", "--load"]
try:
    ladder.main()
except BaseException as e:
    print("main:", repr(e))
for h in hogs:
    print("left running" if h.poll() is None else "stopped")
    h.kill()
    h.wait()
`

// TestLadderStopsTheFirstCompetitorWhenTheSecondFails: make bench-ladder
// LOAD=1 leaves no competitor running when starting the second one fails.
// The fault it checks: both were started in one expression before the
// try whose finally stops them, so the first, started but never stored,
// kept a CPU busy after the script had ended.
func TestLadderStopsTheFirstCompetitorWhenTheSecondFails(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("skipped: no python3")
	}
	out, err := exec.Command("python3", "-c", ladderHogHarness).CombinedOutput()
	require.NoError(t, err, "%s", out)
	got := string(out)
	assert.Contains(t, got, "Resource temporarily unavailable", "the second competitor's start did not fail as arranged")
	assert.Contains(t, got, "stopped")
	assert.NotContains(t, got, "left running", "a competitor outlived aux/ladder.py")
}
