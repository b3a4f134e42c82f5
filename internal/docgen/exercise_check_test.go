package docgen

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseCheckedExercises: an exercise one run cannot show names the
// tests that check it (test:), or says why nothing does (manual:, alone);
// neither is run by the generator.
func TestParseCheckedExercises(t *testing.T) {
	m, err := ParseMeta("## Try this\n\n1. Two terminals.\n\n   <!-- exercise\n   test: testdata/a_killed.txtar\n   test: part1/a/main_test.go TestA\n   -->\n2. A browser.\n\n   <!-- exercise\n   manual: it needs a browser\n   -->\n3. Both.\n\n   <!-- exercise\n   args: -x\n   test: testdata/a.txtar\n   -->\n")
	require.NoError(t, err)
	require.Len(t, m.Exercises, 3)
	a, b, c := m.Exercises[0], m.Exercises[1], m.Exercises[2]
	assert.Equal(t, []TestRef{{File: "testdata/a_killed.txtar"}, {File: "part1/a/main_test.go", Name: "TestA"}}, a.Tests)
	assert.False(t, a.Runs())
	assert.Equal(t, "it needs a browser", b.Manual)
	assert.False(t, b.Runs())
	assert.True(t, c.Runs(), "a run that names its test too is run")

	for name, bad := range map[string]string{
		"manual with a run":      "manual: why\nargs: -x",
		"manual without a why":   "manual:",
		"a test that is no test": "test: part1/a/main.go",
		"a _test.go without its": "test: part1/a/main_test.go",
		"a script elsewhere":     "test: a.txtar",
	} {
		_, err := ParseMeta("## Try this\n\n<!-- exercise\n" + bad + "\n-->\n")
		assert.ErrorIs(t, err, ErrExercise, name)
	}

	assert.Equal(t, "*The test suite checks this: [`testdata/a_killed.txtar`](../../testdata/a_killed.txtar), `TestA` in [`part1/a/main_test.go`](../../part1/a/main_test.go).*\n", renderChecks(a, "part1/a"))
	assert.Equal(t, "*Not run by the test suite: it needs a browser.*\n", renderChecks(b, "part1/a"))
}

// TestUncheckedExercises: an item of "Try this" without an exercise
// comment is reported by its number.
func TestUncheckedExercises(t *testing.T) {
	m, err := ParseMeta("## Try this\n\n1. Run.\n\n   <!-- exercise\n   args: -x\n   -->\n2. Nothing said.\n   More of it.\n3. Checked.\n   <!-- exercise\n   test: testdata/a.txtar\n   -->\n4. Nothing again.\n\n## How to check\n\n1. Not an exercise.\n")
	require.NoError(t, err)
	assert.Equal(t, []int{2, 4}, m.UncheckedExercises())
}

// TestCheckedExerciseOnThePage, end to end: the page links to the tests an
// exercise names; a test that is not there (a script renamed, a test
// function removed) makes generating fail, naming it.
func TestCheckedExerciseOnThePage(t *testing.T) {
	main := "// Chapter 1, a: greet.\npackage main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"
	doc := "## Try this\n\n1. Kill it.\n\n   <!-- exercise\n   test: testdata/a_killed.txtar\n   test: a_test.go TestA\n   -->\n2. In a browser.\n\n   <!-- exercise\n   manual: it needs a browser\n   -->\n"
	root := writeTree(t, map[string]string{
		"README.md":               "# checked\n",
		"go.mod":                  "module example.com/checked\n\ngo 1.22\n",
		"part1/a/main.go":         main,
		"part1/a/doc.md":          doc,
		"testdata/a_killed.txtar": "exec a\n",
		"a_test.go":               "package a\n\nimport \"testing\"\n\nfunc TestA(t *testing.T) {}\n",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	files, err := Generate(ctx, Options{Root: root})
	require.NoError(t, err)
	require.Len(t, files, 1)
	page := string(files[0].Data)
	assert.Contains(t, page, "   *The test suite checks this: [`testdata/a_killed.txtar`](../testdata/a_killed.txtar), `TestA` in [`a_test.go`](../a_test.go).*\n")
	assert.Contains(t, page, "   *Not run by the test suite: it needs a browser.*\n")

	require.NoError(t, os.WriteFile(filepath.Join(root, "a_test.go"), []byte("package a\n\nimport \"testing\"\n\nfunc TestB(t *testing.T) {}\n"), 0o644))
	_, err = Generate(ctx, Options{Root: root})
	assert.ErrorIs(t, err, ErrExercise)
	assert.ErrorContains(t, err, "a_test.go defines no TestA")

	require.NoError(t, os.Remove(filepath.Join(root, "testdata/a_killed.txtar")))
	_, err = Generate(ctx, Options{Root: root})
	assert.ErrorIs(t, err, ErrExercise)
	assert.ErrorContains(t, err, "a_killed.txtar")
}

// TestGrepExercise: grep keeps the matching lines without marking the
// others, and the page's command pipes through grep -E, as a reader would
// type it; it goes with exit 0 only, and with no show.
func TestGrepExercise(t *testing.T) {
	ex, err := parseExercise("args: -x\ngrep: ^(b|d)$")
	require.NoError(t, err)
	assert.Equal(t, "b\nd\n", filterLines("a\nb\nc\nc\nd\n", ex))
	c := &Chapter{Dir: "part1/a", Name: "a"}
	assert.Equal(t, "```console\n$ go run ./part1/a -x 2>&1 | grep -E '^(b|d)$'\nb\nd\n```\n", renderExercise(c, ex, "", "b\nd\n", ""))
	for name, bad := range map[string]string{
		"with an exit": "grep: x\nexit: 1",
		"with a show":  "grep: x\nshow: y",
	} {
		_, err := parseExercise(bad)
		assert.ErrorIs(t, err, ErrExercise, name)
	}
}
