package chapters_test

import (
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/mpgo/mp/internal/docgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// makeCommand is make with args, as a reader runs it from a shell: when the
// suite itself runs under make (make test, make stress), the parent's
// MAKELEVEL and MAKEFLAGS would make this one a sub-make, which prints
// "Entering directory" lines around its output and takes the parent's flags.
func makeCommand(args ...string) *exec.Cmd {
	cmd := exec.Command("make", args...)
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// makeDry runs make with args and returns what it prints; -n shows the
// commands without running them.
func makeDry(t *testing.T, args ...string) string {
	t.Helper()
	out, err := makeCommand(args...).CombinedOutput()
	require.NoError(t, err, "make %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// TestMakeWorkshopTargets: make list prints the names make run-<chapter>
// takes, one per chapter directory; ARGS reaches the chapter; a $ in BENCH
// reaches go test as it is.
func TestMakeWorkshopTargets(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on this machine")
	}
	dirs, err := docgen.ChapterDirs(".")
	require.NoError(t, err)
	var names []string
	for _, d := range dirs {
		names = append(names, path.Base(d))
	}
	assert.Equal(t, names, strings.Fields(makeDry(t, "-s", "list")))

	for _, d := range dirs {
		assert.Equal(t, "go run ./"+d+" -x 'a b'\n", makeDry(t, "-n", "run-"+path.Base(d), "ARGS=-x 'a b'"))
	}
	assert.Contains(t, makeDry(t, "-n", "bench", "BENCH=Call$|Sync$", "COUNT=1"), "-bench 'Call$|Sync$' -count 1 ")
	assert.Equal(t, "go run ./internal/docgen/cmd/docgen\n", makeDry(t, "-n", "docs"))
	assert.Equal(t, "bash aux/stress.bash 3\n", makeDry(t, "-n", "stress", "STRESS_COUNT=3"))

	// A chapter that does not exist: a usage error that points at make list.
	out, err := makeCommand("-s", "run-nope").CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Contains(t, string(out), "make: no chapter 'nope': make list shows the chapters")
}

// TestMakeHelpListsEveryTarget checks that make help lists every target of
// the Makefile, each with a description: a target added without its
// "## name: description" line fails here.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	makefile, err := os.ReadFile("Makefile")
	require.NoError(t, err)
	targets := regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):([^=]|$)`).FindAllStringSubmatch(string(makefile), -1)
	require.NotEmpty(t, targets)

	out, err := makeCommand("-s", "help").Output()
	require.NoError(t, err)
	for _, target := range targets {
		assert.Regexp(t, `(?m)^  `+regexp.QuoteMeta(target[1])+` +\S`, string(out), "make help lists %s", target[1])
	}
	// The chapters' run-<chapter> targets are made by a loop.
	assert.Regexp(t, `(?m)^  run-<chapter> +\S`, string(out))
	// A description of several lines is printed whole, not cut at its first.
	assert.Regexp(t, `(?m)^  clean +stop your processes .* left by a\n {23}crashed run \(yours only`, string(out))
}
