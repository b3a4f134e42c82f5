package docgen

import (
	"strconv"
	"strings"
	"unicode"
)

// Slug returns the anchor GitHub gives a Markdown heading: lower case,
// letters, digits, '-' and '_' kept, spaces turned into '-', everything else
// dropped ("2. ping — wait" is "2-ping--wait").
func Slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Anchors returns the anchors of a Markdown text's headings, numbered as
// GitHub numbers repeated ones ("try-this", "try-this-1", …), plus the
// ids of <a id="…"> / <a name="…"> tags. Headings inside fenced blocks are
// not headings.
func Anchors(markdown string) map[string]bool {
	anchors := map[string]bool{}
	count := map[string]int{}
	inFence := false
	for _, line := range strings.Split(markdown, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, attr := range []string{`<a id="`, `<a name="`} {
			if i := strings.Index(line, attr); i >= 0 {
				rest := line[i+len(attr):]
				if j := strings.IndexByte(rest, '"'); j >= 0 {
					anchors[rest[:j]] = true
				}
			}
		}
		if !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimLeft(line, "#")
		if !strings.HasPrefix(text, " ") {
			continue
		}
		s := Slug(stripInline(text))
		if n := count[s]; n > 0 {
			anchors[s+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[s] = true
		}
		count[s]++
	}
	return anchors
}

// stripInline removes the Markdown of a heading that GitHub does not keep
// in its anchor: the targets of links (their text stays).
func stripInline(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "](")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], ')')
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}
