package docgen

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// TestRef is a test named by an exercise's test: key: a script in
// testdata/ (Name empty), or a test function of a _test.go file.
type TestRef struct {
	File string // slash-separated, from the repository root
	Name string // TestName, for a _test.go file
}

// parseTestRef reads "testdata/NAME.txtar" or "DIR/FILE_test.go TestName".
func parseTestRef(value string) (TestRef, error) {
	f := strings.Fields(value)
	switch {
	case len(f) == 1 && strings.HasPrefix(f[0], "testdata/") && strings.HasSuffix(f[0], ".txtar"):
		return TestRef{File: f[0]}, nil
	case len(f) == 2 && strings.HasSuffix(f[0], "_test.go") && strings.HasPrefix(f[1], "Test"):
		return TestRef{File: f[0], Name: f[1]}, nil
	}
	return TestRef{}, fmt.Errorf("test: want testdata/NAME.txtar or FILE_test.go TestName, got %q", value)
}

// Runs reports whether the suite runs the exercise itself: not for one
// that only names its tests, or is not checked (manual).
func (ex Exercise) Runs() bool {
	return ex.Manual == "" && (len(ex.Tests) == 0 || len(ex.Args) > 0 || len(ex.Edits) > 0)
}

// CheckTests reports the first test that ex names and that is not there
// under root: a missing script, file, or test function in it.
func (ex Exercise) CheckTests(root string) error {
	for _, r := range ex.Tests {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(r.File)))
		if err != nil {
			return fmt.Errorf("%w: exercise %d: test: %v", ErrExercise, ex.N, err)
		}
		if r.Name != "" && !regexp.MustCompile(`(?m)^func `+regexp.QuoteMeta(r.Name)+`\(t \*testing\.T\)`).Match(src) {
			return fmt.Errorf("%w: exercise %d: test: %s defines no %s", ErrExercise, ex.N, r.File, r.Name)
		}
	}
	return nil
}

// renderChecks is the part of the page of an exercise the suite does not
// run itself: the tests that check it, linked relative to the chapter's
// directory dir (as a doc.md's links are), or why nothing checks it.
func renderChecks(ex Exercise, dir string) string {
	if ex.Manual != "" {
		return fmt.Sprintf("*Not run by the test suite: %s.*\n", strings.TrimSuffix(ex.Manual, "."))
	}
	up := strings.Repeat("../", strings.Count(dir, "/")+1)
	var refs []string
	for _, r := range ex.Tests {
		link := fmt.Sprintf("[`%s`](%s)", r.File, up+r.File)
		if r.Name != "" {
			link = fmt.Sprintf("`%s` in [`%s`](%s)", r.Name, path.Clean(r.File), up+r.File)
		}
		refs = append(refs, link)
	}
	return fmt.Sprintf("*The test suite checks this: %s.*\n", strings.Join(refs, ", "))
}

// tryItemRE finds the items of a numbered list at the left margin.
var tryItemRE = regexp.MustCompile(`(?m)^\d+\. `)

// UncheckedExercises returns the numbers of the items of the doc.md's
// "Try this" list that hold no exercise comment: an exercise the suite
// neither runs nor names a test for, nor says why not.
func (m Meta) UncheckedExercises() []int {
	body := m.Section("Try this")
	starts := tryItemRE.FindAllStringIndex(body, -1)
	var missing []int
	for i, s := range starts {
		end := len(body)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		if !exerciseRE.MatchString(body[s[0]:end]) {
			missing = append(missing, i+1)
		}
	}
	return missing
}
