package docgen

import "strings"

// mapProse applies f to the parts of a Markdown text that are prose, and
// copies code unchanged: fenced blocks (``` or ~~~ at the start of a line,
// indented or not) and code spans (a run of backticks up to the next run of
// the same length, on one line or across the lines of a paragraph). What
// looks like a link inside code, such as shm.OpenFile[float64](w.File(0)),
// is code, and no rewriting of links or headings may touch it.
func mapProse(md string, f func(string) string) string {
	var b strings.Builder
	var prose []string
	flushProse := func() {
		if len(prose) > 0 {
			b.WriteString(mapSpans(strings.Join(prose, ""), f))
			prose = nil
		}
	}
	fence := ""
	for _, line := range strings.SplitAfter(md, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case fence != "":
			b.WriteString(line)
			if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				fence = ""
			}
		case strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~"):
			flushProse()
			fence = t[:3]
			for _, c := range t[3:] {
				if c != rune(fence[0]) {
					break
				}
				fence += string(c)
			}
			b.WriteString(line)
		case t == "":
			// A blank line ends a paragraph, and with it any code span.
			flushProse()
			b.WriteString(line)
		default:
			prose = append(prose, line)
		}
	}
	flushProse()
	return b.String()
}

// mapSpans applies f to the text of a paragraph outside its code spans.
func mapSpans(para string, f func(string) string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(para, '`')
		if open < 0 {
			b.WriteString(f(para))
			return b.String()
		}
		n := runLen(para[open:], '`')
		closeAt := -1
		for i := open + n; i < len(para); {
			j := strings.IndexByte(para[i:], '`')
			if j < 0 {
				break
			}
			m := runLen(para[i+j:], '`')
			if m == n {
				closeAt = i + j
				break
			}
			i += j + m
		}
		if closeAt < 0 {
			// No closing run: the backticks are text, and so is the rest.
			b.WriteString(f(para[:open+n]))
			para = para[open+n:]
			continue
		}
		b.WriteString(f(para[:open]))
		b.WriteString(para[open : closeAt+n])
		para = para[closeAt+n:]
	}
}

// runLen is the length of the run of c at the start of s.
func runLen(s string, c byte) int {
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	return n
}
