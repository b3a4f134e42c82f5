package chapters_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stressSandbox is a copy of aux/stress.bash in a tree of its own, so that
// no run of it, even one that should have been refused, starts the real
// suite on this shared machine: its aux/cleanup.bash only notes that it ran,
// and its "go" (first on PATH) answers the counted run (the go test with
// -timeout) at once, and stands in for each load run with a process that
// waits until the script stops it, noting its PID.
type stressSandbox struct{ root, bin, notes string }

func newStressSandbox(t *testing.T) stressSandbox {
	t.Helper()
	root := t.TempDir()
	s := stressSandbox{root: root, bin: filepath.Join(root, "bin"), notes: filepath.Join(root, "notes")}
	script, err := os.ReadFile("aux/stress.bash")
	require.NoError(t, err)
	files := map[string]string{
		"aux/stress.bash":  string(script),
		"aux/cleanup.bash": "echo cleanup ran >>" + s.notes + "/ran\n",
		"bin/go": `#!/bin/sh
case " $* " in
*" -timeout "*) echo "counted $*" >>` + s.notes + `/ran; echo "ok  	fake	0.001s"; exit 0 ;;
esac
echo $$ >>` + s.notes + `/load-pids
exec sleep infinity
`,
	}
	for _, dir := range []string{"aux", "bin", "notes"} {
		require.NoError(t, os.Mkdir(filepath.Join(root, dir), 0o755))
	}
	for name, text := range files {
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(text), 0o755))
	}
	return s
}

// run runs the sandbox's stress.bash with args from directory dir (relative
// to the sandbox), as "bash <path> args...", and returns its stdout, stderr
// and exit status.
func (s stressSandbox) run(t *testing.T, dir, path string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{path}, args...)...)
	cmd.Dir = filepath.Join(s.root, dir)
	cmd.Env = append(os.Environ(), "PATH="+s.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"STRESS_DIR="+filepath.Join(s.root, "logs"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// A load run left holding the script's output would keep Run waiting.
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		require.NoError(t, err)
	}
	// No load run may outlive the script, whatever it did.
	pids, _ := os.ReadFile(filepath.Join(s.notes, "load-pids"))
	for _, f := range strings.Fields(string(pids)) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		assert.True(t, proctest.AwaitGone(t, pid, 10*time.Second), "load run %d outlived stress.bash", pid)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// ran is what the sandbox's go (the counted run) and cleanup.bash noted.
func (s stressSandbox) ran(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(s.notes, "ran"))
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	return string(b)
}

// Fault: aux/stress.bash took its first argument as COUNT whatever it was:
// --help was a usage error ("COUNT must be a positive number, got
// '--help'", status 2), and arguments after COUNT were ignored, the whole
// stress run started. Now -h and --help print the usage on stdout and exit
// 0, an unknown option or a second argument is a usage error (status 2),
// and none of them runs anything.
func TestStressUsage(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		s := newStressSandbox(t)
		stdout, stderr, status := s.run(t, ".", "aux/stress.bash", arg)
		assert.Equal(t, 0, status, arg)
		assert.True(t, strings.HasPrefix(stdout, "Usage: aux/stress.bash [COUNT]\n"), "%s:\n%s", arg, stdout)
		for _, word := range []string{"COUNT", "STRESS_DIR", "make stress", "Exit status"} {
			assert.Contains(t, stdout, word, arg)
		}
		assert.Empty(t, stderr, arg)
		assert.Empty(t, s.ran(t), "%s ran something", arg)
	}
	for _, bad := range []struct {
		args []string
		says string
	}{
		{[]string{"--bogus"}, "stress.bash: unknown option '--bogus'\n"},
		{[]string{"3", "4"}, "stress.bash: unexpected argument '4' after COUNT 3\n"},
		{[]string{"3", "extra"}, "stress.bash: unexpected argument 'extra' after COUNT 3\n"},
		{[]string{"-3"}, "stress.bash: COUNT must be a positive number, got '-3'\n"},
		{[]string{"0"}, "stress.bash: COUNT must be a positive number, got '0'\n"},
	} {
		s := newStressSandbox(t)
		stdout, stderr, status := s.run(t, ".", "aux/stress.bash", bad.args...)
		assert.Equal(t, 2, status, "%q: a usage error", bad.args)
		assert.Empty(t, stdout, "%q", bad.args)
		assert.Equal(t, bad.says+"Try 'aux/stress.bash --help'.\n", stderr, "%q", bad.args)
		assert.Empty(t, s.ran(t), "%q ran something", bad.args)
	}
}

// Fault: run from its own directory (cd aux; bash stress.bash), the script
// moved to the repository's root, then looked for cleanup.bash beside
// "$(dirname "$0")", which was "." and now the root: after the whole
// counted run, "bash: ./cleanup.bash: No such file or directory", and the
// run's status was 127 whatever the suite said. In the sandbox, the
// counted run, the clean-up and the summary all happen, from the root as
// from aux/, and the load runs are stopped.
func TestStressRunsFromAnyDirectory(t *testing.T) {
	for _, from := range []struct{ dir, path string }{{".", "aux/stress.bash"}, {"aux", "stress.bash"}} {
		s := newStressSandbox(t)
		stdout, stderr, status := s.run(t, from.dir, from.path, "2")
		assert.Equal(t, 0, status, "from %s: %s%s", from.dir, stdout, stderr)
		assert.Equal(t, "counted test -count=2 -timeout 4m ./...\ncleanup ran\n", s.ran(t), "from %s", from.dir)
		assert.Contains(t, stdout, "stress: go test -count=2 -timeout 4m ./...: status 0 after", "from %s", from.dir)
	}
}
