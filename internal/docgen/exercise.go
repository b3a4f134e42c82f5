package docgen

import (
	"errors"
	"fmt"
	"go/format"
	"regexp"
	"strconv"
	"strings"
)

// ErrExercise is wrapped by the errors of an exercise that cannot be
// parsed, applied or run as its doc.md says.
var ErrExercise = errors.New("docgen: bad exercise")

// Exercise is an exercise of a doc.md whose result the page states: a run
// of the chapter with other arguments, or with its main.go edited, or both.
// The generator builds and runs it like the chapter itself and puts on the
// page the edit it made (a diff) and what the run printed; so the page
// shows what a test produced, and a change of the chapter's behaviour makes
// the page out of date (go test ./... fails) until it is regenerated.
//
// In a doc.md, an exercise is an HTML comment (invisible where the doc.md
// itself is shown) where its result belongs on the page, indented as the
// list item it is part of:
//
//	<!-- exercise
//	args: -dtype int64 -shape 3x4x5
//	find: log.Info("calling ping")
//	before: p.Send(ctx, "pong", nil)
//	exit: 1
//	show: WARN|ERROR
//	-->
//
// The keys, one per line:
//
//	args: ARGS        the command-line arguments of the run (split at spaces)
//	find: LINE        starts an edit: the one line of main.go whose text,
//	                  without its indentation, is LINE (no line, or more
//	                  than one, is an error: the edit is anchored on the code)
//	through: LINE     the edit covers the lines from find's through the next
//	                  one at the same indentation whose text is LINE
//	before: CODE      inserts CODE before the edited lines (repeat for more)
//	after: CODE       inserts CODE after them (repeat for more)
//	replace: CODE     replaces them with CODE (repeat for more lines)
//	delete:           removes them
//	exit: N           the exit status the run must end with (default 0),
//	                  or "killed" for a program that dies of SIGKILL
//	show: REGEXP      shows only the lines that match, with "…" for the rest
//	grep: REGEXP      shows only the lines that match, and the command as
//	                  piped through grep -E 'REGEXP' (for output whose other
//	                  lines come in an order that depends on timing; a
//	                  plain pattern, the same in Go and grep -E; exit 0 only)
//	normalize: RE => REPLACEMENT   as in the doc.md's header, for this run
//	solution: hidden  shows the edit folded away (<details>): the exercise
//	                  asks the reader to write it, this is a verified answer
//	ls: /dev/shm      lists the run's segments left in /dev/shm after it
//	                  (they are then removed)
//	test: FILE [TEST] names the test that checks what the exercise says,
//	                  for an exercise one run cannot show (two terminals, a
//	                  kill in the middle): a script testdata/NAME.txtar, or
//	                  a _test.go file and the TestName it defines (paths
//	                  from the repository root; repeat for more). Alone, the
//	                  exercise is not run: the page links to the tests
//	manual: REASON    the exercise is neither run nor tested by the suite,
//	                  and the page says why (a browser, a second host); the
//	                  only key then
//
// Inserted code takes the indentation of the line found, and the edited
// file is gofmt-ed before it is built, so indentation in the doc.md does not
// matter. The run gets MP_FAST=1 and a shared-memory prefix of its own, so
// exercises can run in parallel with each other and with tests.
type Exercise struct {
	N         int // 1, 2, … in the order of the chapter's doc.md
	Args      []string
	Edits     []Edit
	Exit      int // -1: killed by SIGKILL
	Show      *regexp.Regexp
	Grep      bool // Show is a grep: no "…", and the page's command says so
	Normalize []Rule
	Hidden    bool
	ListShm   bool
	Tests     []TestRef // tests that check it (key test:)
	Manual    string    // why the suite does not check it (key manual:)

	marker string // the comment as the doc.md has it, replaced on the page
	indent string // the comment's indentation
}

// Edit is one change of an exercise to its chapter's main.go.
type Edit struct {
	Find, Through          string
	Before, After, Replace []string
	Delete                 bool
}

// ExitKilled is Exercise.Exit for a run that ends killed by SIGKILL.
const ExitKilled = -1

// exerciseRE finds the exercise comments of a doc.md section.
var exerciseRE = regexp.MustCompile(`(?m)^([ \t]*)<!-- exercise\n((?s:.*?))^[ \t]*-->[ \t]*$`)

// parseExercises reads the exercise comments of body, numbering them from
// first.
func parseExercises(body string, first int) ([]Exercise, error) {
	var exs []Exercise
	for _, m := range exerciseRE.FindAllStringSubmatch(body, -1) {
		ex, err := parseExercise(m[2])
		if err != nil {
			return nil, fmt.Errorf("exercise %d: %w", first+len(exs), err)
		}
		ex.N, ex.marker, ex.indent = first+len(exs), m[0], m[1]
		exs = append(exs, ex)
	}
	return exs, nil
}

func parseExercise(spec string) (Exercise, error) {
	var ex Exercise
	var cur *Edit // the edit that the keys after a find change
	for i, line := range strings.Split(spec, "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		key, value, ok := strings.Cut(t, ":")
		if !ok {
			return ex, fmt.Errorf("%w: line %d: want \"key: value\", got %q", ErrExercise, i+1, t)
		}
		value = strings.TrimSpace(value)
		var err error
		switch key {
		case "find", "through", "before", "after", "replace", "delete":
			cur, err = ex.setEdit(cur, key, value)
		default:
			err = ex.set(key, value)
		}
		switch {
		case errors.Is(err, errUnknownKey):
			return ex, fmt.Errorf("%w: line %d: unknown key %q", ErrExercise, i+1, key)
		case err != nil:
			return ex, fmt.Errorf("%w: line %d: %v", ErrExercise, i+1, err)
		}
	}
	return ex, ex.check(spec)
}

// errUnknownKey is what set returns for a key an exercise comment cannot have.
var errUnknownKey = errors.New("unknown key")

// setEdit applies one key of an edit: find starts a new one, the others
// change cur, the edit the last find started. It returns the current edit.
func (ex *Exercise) setEdit(cur *Edit, key, value string) (*Edit, error) {
	if key == "find" {
		if value == "" {
			return cur, errors.New("find wants a line of main.go")
		}
		ex.Edits = append(ex.Edits, Edit{Find: value})
		return &ex.Edits[len(ex.Edits)-1], nil
	}
	if cur == nil {
		return nil, fmt.Errorf("%s: before the first find", key)
	}
	switch key {
	case "through":
		cur.Through = value
	case "before":
		cur.Before = append(cur.Before, value)
	case "after":
		cur.After = append(cur.After, value)
	case "replace":
		cur.Replace = append(cur.Replace, value)
	case "delete":
		cur.Delete = true
	}
	return cur, nil
}

// set applies one key of an exercise that is not part of an edit.
func (ex *Exercise) set(key, value string) (err error) {
	switch key {
	case "args":
		ex.Args = strings.Fields(value)
	case "exit":
		if value == "killed" {
			ex.Exit = ExitKilled
		} else if ex.Exit, err = strconv.Atoi(value); err == nil && ex.Exit < 0 {
			err = fmt.Errorf("exit %d: want a status from 0 to 255, or killed", ex.Exit)
		}
	case "show", "grep":
		if ex.Show != nil {
			return errors.New("show or grep, once")
		}
		ex.Show, err = regexp.Compile(value)
		ex.Grep = key == "grep"
	case "normalize":
		var r Rule
		if r, err = parseRule(value); err == nil {
			ex.Normalize = append(ex.Normalize, r)
		}
	case "solution":
		if value != "hidden" {
			err = fmt.Errorf("solution: want hidden, got %q", value)
		}
		ex.Hidden = true
	case "test":
		var r TestRef
		if r, err = parseTestRef(value); err == nil {
			ex.Tests = append(ex.Tests, r)
		}
	case "manual":
		if value == "" {
			err = errors.New("manual: say why the suite does not run it")
		}
		ex.Manual = value
	case "ls":
		if value != "/dev/shm" {
			err = fmt.Errorf("ls: want /dev/shm, got %q", value)
		}
		ex.ListShm = true
	default:
		return errUnknownKey
	}
	return err
}

// check reports what the keys of spec, each valid, cannot mean together.
func (ex *Exercise) check(spec string) error {
	for _, e := range ex.Edits {
		n := 0
		for _, b := range []bool{len(e.Before) > 0 || len(e.After) > 0, len(e.Replace) > 0, e.Delete} {
			if b {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%w: find %q wants before/after, replace or delete (one of the three)", ErrExercise, e.Find)
		}
	}
	if ex.Manual != "" && strings.Count(strings.TrimSpace(spec), "\n") > 0 {
		return fmt.Errorf("%w: manual: the only key of an exercise the suite does not check", ErrExercise)
	}
	if ex.Grep && ex.Exit != 0 {
		return fmt.Errorf("%w: grep: a pipeline's status is grep's, so exit must be 0", ErrExercise)
	}
	if ex.Hidden && len(ex.Edits) == 0 {
		return fmt.Errorf("%w: solution: hidden without an edit", ErrExercise)
	}
	return nil
}

// Apply makes the exercise's edits to src, a chapter's main.go, in order,
// and returns the result gofmt-ed. An edit whose find (or through) line is
// not in src, or whose find line is there more than once, is an error
// wrapping ErrExercise.
func (ex Exercise) Apply(src string) (string, error) {
	lines := strings.Split(src, "\n")
	for _, e := range ex.Edits {
		var at []int
		for i, l := range lines {
			if strings.TrimSpace(l) == e.Find {
				at = append(at, i)
			}
		}
		if len(at) != 1 {
			return "", fmt.Errorf("%w: exercise %d: find %q matches %d lines of main.go, want 1", ErrExercise, ex.N, e.Find, len(at))
		}
		start, end := at[0], at[0]
		indent := lines[start][:len(lines[start])-len(strings.TrimLeft(lines[start], " \t"))]
		if e.Through != "" {
			end = -1
			for j := start + 1; j < len(lines); j++ {
				if strings.TrimSpace(lines[j]) == e.Through && strings.HasPrefix(lines[j], indent) && !strings.HasPrefix(lines[j][len(indent):], "\t") && !strings.HasPrefix(lines[j][len(indent):], " ") {
					end = j
					break
				}
			}
			if end < 0 {
				return "", fmt.Errorf("%w: exercise %d: no line %q at the indentation of %q after it", ErrExercise, ex.N, e.Through, e.Find)
			}
		}
		indented := func(code []string) []string {
			out := make([]string, len(code))
			for i, c := range code {
				out[i] = indent + c
			}
			return out
		}
		var mid []string
		switch {
		case e.Delete:
		case len(e.Replace) > 0:
			mid = indented(e.Replace)
		default:
			mid = append(append(indented(e.Before), lines[start:end+1]...), indented(e.After)...)
		}
		lines = append(append(append([]string{}, lines[:start]...), mid...), lines[end+1:]...)
	}
	out, err := format.Source([]byte(strings.Join(lines, "\n")))
	if err != nil {
		return "", fmt.Errorf("%w: exercise %d: the edited main.go does not parse: %v", ErrExercise, ex.N, err)
	}
	return string(out), nil
}

// Diff returns the lines that differ between a and b as a unified diff
// (without file headers), with one line of context around each change.
func Diff(a, b string) string {
	x, y := strings.Split(strings.TrimRight(a, "\n"), "\n"), strings.Split(strings.TrimRight(b, "\n"), "\n")
	// The longest common subsequence, by dynamic programming: chapters are
	// a few hundred lines.
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		text string
	}
	var ops []op
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			ops = append(ops, op{' ', x[i]})
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', x[i]})
			i++
		default:
			ops = append(ops, op{'+', y[j]})
			j++
		}
	}
	const context = 1
	show := make([]bool, len(ops))
	for k, o := range ops {
		if o.kind != ' ' {
			for d := max(0, k-context); d <= min(len(ops)-1, k+context); d++ {
				show[d] = true
			}
		}
	}
	var sb strings.Builder
	for k, o := range ops {
		if !show[k] {
			continue
		}
		if k > 0 && !show[k-1] && sb.Len() > 0 {
			sb.WriteString("@@ … @@\n")
		}
		sb.WriteString(strings.TrimRight(string(o.kind)+o.text, " \t") + "\n")
	}
	return sb.String()
}
