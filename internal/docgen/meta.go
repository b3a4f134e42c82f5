package docgen

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrMeta is wrapped by the errors of ParseMeta.
var ErrMeta = errors.New("docgen: bad doc.md")

// Meta is what a chapter's doc.md adds to its page.
//
// A doc.md starts with optional "key: value" lines, then Markdown sections
// that start with "## " headings, copied to the page in order:
//
//	args: -dtype int64 -shape 3x4x5
//	normalize: took [0-9.]+ms => took <t>ms
//	exit: 1
//	timeout: 30s
//
//	## Try this
//	…
//	## How to check
//	…
//
// args are the command-line arguments of the run whose output the page
// shows (split at spaces, no quoting); normalize rewrites the parts of that
// output that differ between runs (a Go regular expression, " => ", a
// replacement that may use $1), one line per rule, applied in order after
// PIDs are renumbered; exit is the exit status the run must end with
// (default 0); timeout bounds the run (default 2m). A section may hold
// exercises whose results the page shows (see Exercise).
type Meta struct {
	Args      []string
	Normalize []Rule
	Exit      int
	Timeout   time.Duration
	Sections  []Section
	Exercises []Exercise // from the sections' exercise comments (see Exercise)
}

// Rule rewrites what matches RE in a chapter's output to Repl.
type Rule struct {
	RE   *regexp.Regexp
	Repl string
}

// Section is a "## Heading" of a doc.md and the Markdown under it.
type Section struct {
	Heading string
	Body    string
}

// ParseMeta parses a doc.md. Unknown keys, bad regular expressions, a bad
// exit status or timeout, and text before the first heading that is not a
// key line are errors wrapping ErrMeta.
func ParseMeta(text string) (Meta, error) {
	var m Meta
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	i := 0
	for ; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "<!--") {
			continue
		}
		if strings.HasPrefix(line, "## ") {
			break
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return m, fmt.Errorf("%w: line %d: want \"key: value\" or a \"## \" heading, got %q", ErrMeta, i+1, line)
		}
		value = strings.TrimSpace(value)
		var err error
		switch strings.TrimSpace(key) {
		case "args":
			m.Args = strings.Fields(value)
		case "normalize":
			var r Rule
			if r, err = parseRule(value); err == nil {
				m.Normalize = append(m.Normalize, r)
			}
		case "exit":
			m.Exit, err = strconv.Atoi(value)
		case "timeout":
			m.Timeout, err = time.ParseDuration(value)
		default:
			return m, fmt.Errorf("%w: line %d: unknown key %q (want args, normalize, exit or timeout)", ErrMeta, i+1, key)
		}
		if err != nil {
			return m, fmt.Errorf("%w: line %d: %v", ErrMeta, i+1, err)
		}
	}
	var cur *Section
	var body []string
	var exErr error
	end := func() {
		if cur != nil {
			cur.Body = trimBlank(body)
			m.Sections = append(m.Sections, *cur)
			exs, err := parseExercises(cur.Body, len(m.Exercises)+1)
			if err != nil && exErr == nil {
				exErr = fmt.Errorf("%w: section %q: %w", ErrMeta, cur.Heading, err)
			}
			m.Exercises = append(m.Exercises, exs...)
		}
	}
	inFence := false
	for ; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(line, "## ") {
			end()
			cur, body = &Section{Heading: strings.TrimSpace(line[3:])}, nil
			continue
		}
		body = append(body, strings.TrimRight(line, " \t"))
	}
	end()
	return m, exErr
}

// parseRule reads "REGEXP => REPLACEMENT".
func parseRule(value string) (Rule, error) {
	expr, repl, ok := strings.Cut(value, " => ")
	if !ok {
		return Rule{}, errors.New("normalize wants REGEXP => REPLACEMENT")
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return Rule{}, err
	}
	return Rule{RE: re, Repl: repl}, nil
}

// Section returns the body of the section with the given heading, or "".
func (m Meta) Section(heading string) string {
	for _, s := range m.Sections {
		if strings.EqualFold(s.Heading, heading) {
			return s.Body
		}
	}
	return ""
}
