package docgen

import (
	"fmt"
	"strings"
)

// Block is one step of a chapter's story: prose (Markdown, from the
// comments) followed by the code it explains. Either may be empty.
type Block struct {
	Prose string
	Code  string
}

// The markers that leave code out of the page. They are directives in Go's
// sense (no space after //), so gofmt keeps them as they are and go doc
// does not show them.
const (
	markSkip = "//docs:skip"
	markEnd  = "//docs:end"
)

// SplitSource turns the lines of a Go file, from its package clause on, into
// blocks: each run of comment-only lines is prose, and the lines up to the
// next such run are its code. Directives (//go:, //docs:, //lint:) are not
// prose; lines marked with the skip markers are left out, replaced by a
// note of how many lines were.
func SplitSource(lines []string) []Block {
	var (
		blocks  []Block
		prose   []string
		code    []string
		skipped int
		inSkip  bool
	)
	flushSkip := func() {
		if skipped > 0 {
			code = append(code, fmt.Sprintf("// … %d %s not shown here (see main.go)", skipped, plural(skipped, "line")))
			skipped = 0
		}
	}
	flush := func() {
		flushSkip()
		b := Block{Prose: proseMarkdown(prose), Code: trimBlank(code)}
		prose, code = nil, nil
		if b.Prose == "" && b.Code == "" {
			return
		}
		// Prose with no code after it (a comment, a blank line, another
		// comment) belongs to the next step.
		if n := len(blocks); n > 0 && blocks[n-1].Code == "" {
			blocks[n-1].Prose = joinParagraphs(blocks[n-1].Prose, b.Prose)
			blocks[n-1].Code = b.Code
			return
		}
		blocks = append(blocks, b)
	}
	for _, line := range lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case inSkip:
			if trimmed == markEnd {
				inSkip = false
			} else {
				skipped++
			}
			continue
		case trimmed == markSkip:
			inSkip = true
			continue
		case strings.HasSuffix(trimmed, markSkip):
			skipped++
			continue
		}
		if isProse(trimmed) {
			switch {
			case strings.TrimSpace(strings.Join(code, "")) != "":
				flush()
			case len(code) > 0:
				// Comment, blank line, comment: two paragraphs of prose.
				prose, code = append(prose, ""), nil
			}
			prose = append(prose, strings.TrimPrefix(trimmed, "//"))
			continue
		}
		if len(prose) > 0 && len(code) == 0 && trimmed == "" {
			// A blank line between a comment and what follows: the comment
			// still introduces the next code.
			code = append(code, "")
			continue
		}
		flushSkip()
		code = append(code, strings.TrimRight(line, " \t"))
	}
	flush()
	return blocks
}

// isProse reports whether a trimmed line is a comment to show as prose.
func isProse(trimmed string) bool {
	if !strings.HasPrefix(trimmed, "//") {
		return false
	}
	rest := trimmed[2:]
	// Directives: //go:generate, //docs:skip, //lint:ignore, //nolint.
	if i := strings.IndexByte(rest, ':'); i > 0 && !strings.ContainsAny(rest[:i], " \t") {
		return false
	}
	return true
}

// proseMarkdown turns comment text (the part after "//") into Markdown:
// indented lines, which go doc shows as code, become a fenced block.
func proseMarkdown(lines []string) string {
	var out []string
	inCode := false
	endCode := func() {
		for len(out) > 0 && out[len(out)-1] == "" {
			out = out[:len(out)-1]
		}
		out = append(out, "```", "")
		inCode = false
	}
	for _, l := range lines {
		isCode := strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "  ")
		blank := strings.TrimSpace(l) == ""
		switch {
		case isCode && !inCode:
			if len(out) > 0 && out[len(out)-1] != "" {
				out = append(out, "")
			}
			out = append(out, "```go")
			inCode = true
		case !isCode && !blank && inCode:
			endCode()
		}
		switch {
		case inCode && blank:
			out = append(out, "")
		case inCode:
			out = append(out, strings.TrimPrefix(strings.TrimPrefix(l, "\t"), "  "))
		default:
			out = append(out, strings.TrimPrefix(l, " "))
		}
	}
	if inCode {
		endCode()
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// trimBlank joins lines, without blank lines at either end.
func trimBlank(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

func joinParagraphs(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n\n" + b
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
