package docgen

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exerciseSrc = `package main

import (
	"errors"
	"fmt"
)

func main() {
	fmt.Println("one")
	if true {
		fmt.Println("two")
	}
	fmt.Println("three")
}

var _ = errors.New
`

func TestParseExercises(t *testing.T) {
	m, err := ParseMeta("## Try this\n\n1. First.\n\n   <!-- exercise\n   args: -x 1\n   find: fmt.Println(\"one\")\n   after: fmt.Println(\"1b\")\n   exit: 2\n   show: one|1b\n   -->\n2. Second.\n\n<!-- exercise\nexit: killed\nls: /dev/shm\n-->\n")
	require.NoError(t, err)
	require.Len(t, m.Exercises, 2)
	a, b := m.Exercises[0], m.Exercises[1]
	assert.Equal(t, 1, a.N)
	assert.Equal(t, []string{"-x", "1"}, a.Args)
	assert.Equal(t, []Edit{{Find: `fmt.Println("one")`, After: []string{`fmt.Println("1b")`}}}, a.Edits)
	assert.Equal(t, 2, a.Exit)
	assert.Equal(t, "   ", a.indent)
	assert.True(t, a.Show.MatchString("1b"))
	assert.Equal(t, 2, b.N)
	assert.Equal(t, ExitKilled, b.Exit)
	assert.True(t, b.ListShm)

	for name, bad := range map[string]string{
		"unknown key":         "args: -x\ncolour: red",
		"an action first":     "replace: x",
		"a find alone":        "find: x",
		"two actions":         "find: x\nreplace: y\ndelete:",
		"a bad exit":          "exit: -3",
		"a bad regexp":        "show: (",
		"hidden without code": "solution: hidden",
	} {
		_, err := ParseMeta("## Try this\n\n<!-- exercise\n" + bad + "\n-->\n")
		assert.ErrorIs(t, err, ErrExercise, name)
	}
}

// TestExerciseApply: the edits are anchored on whole lines of the code, in
// order; a line that is not there, or is there twice, is an error naming
// it (a rename in the chapter breaks the exercise loudly, not silently).
func TestExerciseApply(t *testing.T) {
	ex := Exercise{N: 3, Edits: []Edit{
		{Find: `fmt.Println("one")`, Before: []string{`fmt.Println("zero")`}},
		{Find: `if true {`, Through: `}`, Replace: []string{`fmt.Println("2")`}},
		{Find: `fmt.Println("three")`, After: []string{`fmt.Println("four")`}},
		{Find: `"errors"`, Delete: true},
		{Find: `var _ = errors.New`, Delete: true},
	}}
	got, err := ex.Apply(exerciseSrc)
	require.NoError(t, err)
	assert.Equal(t, "package main\n\nimport (\n\t\"fmt\"\n)\n\nfunc main() {\n\tfmt.Println(\"zero\")\n\tfmt.Println(\"one\")\n\tfmt.Println(\"2\")\n\tfmt.Println(\"three\")\n\tfmt.Println(\"four\")\n}\n", got)

	for name, e := range map[string]Edit{
		"a line that is not there": {Find: `fmt.Println("ONE")`, Delete: true},
		"a line there twice":       {Find: `}`, Delete: true},
		"a through not there":      {Find: `if true {`, Through: `end`, Delete: true},
	} {
		_, err := Exercise{N: 3, Edits: []Edit{e}}.Apply(exerciseSrc)
		assert.ErrorIs(t, err, ErrExercise, name)
		assert.ErrorContains(t, err, "exercise 3", name)
	}
	_, err = Exercise{Edits: []Edit{{Find: `fmt.Println("one")`, Replace: []string{"fmt.Println("}}}}.Apply(exerciseSrc)
	assert.ErrorContains(t, err, "does not parse")
}

func TestDiff(t *testing.T) {
	assert.Equal(t, " b\n-c\n+C\n d\n@@ … @@\n g\n+h\n", Diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nC\nd\ne\nf\ng\nh\n"))
	assert.Empty(t, Diff("a\n", "a\n"))
}

func TestFilterLines(t *testing.T) {
	ex, err := parseExercise("show: ^(b|d)$")
	require.NoError(t, err)
	assert.Equal(t, "…\nb\n…\nd\n", filterLines("a\nb\nc\nc\nd\n", ex))
}

// TestExerciseDriftIsCaught is the harness's reason to be, end to end on a
// chapter of a module of its own: an exercise that edits the code and one
// that gives flags both reach the page with what the runs printed; when the
// chapter then prints something else, the page on disk is reported stale;
// when the code an edit is anchored on is gone, generating fails.
func TestExerciseDriftIsCaught(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	main := "// Chapter 1, a: greet.\npackage main\n\nimport (\n\t\"flag\"\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tloud := flag.Bool(\"loud\", false, \"shout\")\n\tflag.Parse()\n\tgreeting := \"hello\"\n\tif *loud {\n\t\tgreeting = \"HELLO\" //docs:skip\n\t}\n\tfmt.Println(greeting)\n\tos.Exit(0)\n}\n"
	doc := "## Try this\n\n1. Shout.\n\n   <!-- exercise\n   args: -loud\n   -->\n2. Fail.\n\n   <!-- exercise\n   find: os.Exit(0)\n   replace: os.Exit(3)\n   exit: 3\n   -->\n"
	root := writeTree(t, map[string]string{
		"README.md":       "# drift\n",
		"go.mod":          "module example.com/drift\n\ngo 1.22\n",
		"part1/a/main.go": main,
		"part1/a/doc.md":  doc,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	files, err := Generate(ctx, Options{Root: root})
	require.NoError(t, err)
	require.Len(t, files, 1)
	page := string(files[0].Data)
	assert.Contains(t, page, "   ```console\n   $ go run ./part1/a -loud\n   HELLO\n   ```\n")
	assert.Contains(t, page, "   -\tos.Exit(0)\n   +\tos.Exit(3)\n")
	assert.Contains(t, page, "   $ go run ./part1/a\n   hello\n   exit status 3\n   ```\n")
	_, err = Write(root, files)
	require.NoError(t, err)

	// The chapter changes its behaviour (on a line the page does not show):
	// the exercise's output no longer says what is true, and the drift
	// check says so.
	changed := strings.Replace(main, `"HELLO"`, `"HELLO!"`, 1)
	require.NoError(t, os.WriteFile(filepath.Join(root, "part1/a/main.go"), []byte(changed), 0o644))
	files, err = Generate(ctx, Options{Root: root})
	require.NoError(t, err)
	stale := Stale(root, files)
	require.Len(t, stale, 1)
	assert.Contains(t, stale[0], `"   HELLO", the generator writes "   HELLO!"`)

	// The line an edit is anchored on is renamed: generating fails.
	renamed := strings.Replace(main, "os.Exit(0)", "os.Exit(0 + 0)", 1)
	require.NoError(t, os.WriteFile(filepath.Join(root, "part1/a/main.go"), []byte(renamed), 0o644))
	_, err = Generate(ctx, Options{Root: root})
	assert.ErrorIs(t, err, ErrExercise)
	assert.ErrorContains(t, err, `find "os.Exit(0)" matches 0 lines`)
}
