package chapters_test

import (
	"os/exec"
	"path/filepath"
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

// runLadder runs aux/ladder.py's main in python3 with args, after the
// Python statements patch (which may replace ladder.build or
// ladder.run_one), and returns what it printed.
func runLadder(t *testing.T, patch string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("skipped: no python3")
	}
	script := "import sys\nsys.path.insert(0, 'aux')\nimport ladder\n" + patch +
		"\nsys.argv = ['ladder.py'] + sys.argv[1:]\ntry:\n    ladder.main()\nexcept SystemExit as e:\n    print('exit:', e.code)\n"
	out, err := exec.Command("python3", append([]string{"-c", script}, args...)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// TestLadderBaseIsACommit: --base takes a commit, never an option of git
// archive. The fault it checks: the value went to git archive as it was,
// so BASE=--output=FILE wrote FILE (and a tree such as HEAD:mp was
// archived and failed to build later).
func TestLadderBaseIsACommit(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.tar")
	got := runLadder(t, "ladder.build = lambda tree, out: None", "--base=--output="+out, "--rounds", "1", "--n", "1")
	assert.NoFileExists(t, out, "git archive took the base as an option")
	assert.Contains(t, got, "not a commit of this repository")
	got = runLadder(t, "ladder.build = lambda tree, out: None", "--base", "HEAD:mp", "--rounds", "1", "--n", "1")
	assert.Contains(t, got, "--base HEAD:mp: not a commit of this repository")
}

// TestLadderSaysWhatItDidNotMeasure: a benchmark a binary lacks (a base
// from before it was written) is named in that binary's report, not left
// out without a word.
func TestLadderSaysWhatItDidNotMeasure(t *testing.T) {
	patch := `ladder.build = lambda tree, out: None
ladder.run_one = lambda binary, bench, n, env: None if bench == "Sync" else (1.0, 1.0)`
	got := runLadder(t, patch, "--rounds", "1", "--n", "1")
	assert.Regexp(t, `(?m)^  Sync +not measured`, got)
	assert.Regexp(t, `(?m)^  Call +µs 1\.0`, got)
}
