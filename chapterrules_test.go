package chapters_test

// Rules every chapter keeps, checked by walking every chapter there is
// (part*/*/main.go): a new chapter cannot drift from them.

import (
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpgo/mp/internal/docgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runChapter runs a chapter's binary with args, its processes tagged with
// tag and its segments under a prefix of its own, and returns what it
// wrote on stdout and stderr and its exit status.
func runChapter(t *testing.T, dir, tag string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, path.Base(dir)), args...)
	cmd.Env = append(os.Environ(), "MP_FAST=1", "MP_TEST_TAG="+tag, "MP_SHM_PREFIX=mp-"+tag+"-")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		require.NoError(t, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// TestEveryChapterHandlesFlagsAlike walks every chapter there is
// (part*/*/main.go) and holds it to one way of handling its command line,
// the one internal/story states: -h prints the usage on standard error,
// starting "usage: go run ./partN/name", nothing on standard output, and
// exits 0; an unknown flag, or an argument, prints "name: what is wrong"
// and the same usage on standard error and nothing else (no log line:
// nothing started) and exits 2, leaving no process and no segment. A
// chapter's own bounds are checked by its testdata/<name>_usage.txtar.
func TestEveryChapterHandlesFlagsAlike(t *testing.T) {
	dirs := must(docgen.ChapterDirs("."))
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		name := path.Base(dir)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tag := "flags" + randomHex(4)
			stdout, usage, status := runChapter(t, dir, tag, "-h")
			assert.Equal(t, 0, status, "-h: exit status")
			assert.Empty(t, stdout, "-h: the usage goes to standard error, as the flag package prints it")
			assert.True(t, strings.HasPrefix(usage, "usage: go run ./"+dir+"\n") || strings.HasPrefix(usage, "usage: go run ./"+dir+" [flags]\n"),
				"-h: the usage names the command a reader types, go run ./%s:\n%s", dir, usage)

			for _, bad := range []struct{ arg, says string }{
				{"-no-such-flag", name + ": flag provided but not defined: -no-such-flag\n"},
				{"no-such-argument", name + `: unexpected arguments ["no-such-argument"]`},
			} {
				stdout, stderr, status := runChapter(t, dir, tag, bad.arg)
				assert.Equal(t, 2, status, "%s: a usage error, exit status 2", bad.arg)
				assert.Empty(t, stdout, bad.arg)
				first, rest, _ := strings.Cut(stderr, "\n")
				assert.True(t, strings.HasPrefix(first+"\n", bad.says) || strings.HasPrefix(first, bad.says), "%s: says what is wrong first, got:\n%s", bad.arg, stderr)
				assert.Equal(t, usage, rest, "%s: then the usage of -h, and nothing else", bad.arg)
			}
			assert.Empty(t, waitNoProcesses(tag), "a usage error started processes")
			assert.Empty(t, removeSegments("mp-"+tag+"-"), "a usage error created segments")
		})
	}
}

// TestEveryExerciseIsCheckedOrSaysWhyNot: every item of a chapter's "Try
// this" list holds an exercise comment (see docgen.Exercise): a run the
// generator makes and shows, the tests that check what it says, or why
// nothing checks it. An exercise added as prose alone fails here.
func TestEveryExerciseIsCheckedOrSaysWhyNot(t *testing.T) {
	manual := 0
	for _, dir := range must(docgen.ChapterDirs(".")) {
		c, err := docgen.LoadChapter(".", dir)
		require.NoError(t, err, dir)
		for _, n := range c.Meta.UncheckedExercises() {
			t.Errorf("%s/doc.md: exercise %d of \"Try this\" has no <!-- exercise --> comment: give its run (args:, an edit), the tests that check it (test:), or why nothing does (manual:)", dir, n)
		}
		for _, ex := range c.Meta.Exercises {
			if ex.Manual != "" {
				manual++
			}
		}
	}
	// The list of exercises nothing checks stays short.
	assert.LessOrEqual(t, manual, 2, "exercises that the suite does not check")
}
