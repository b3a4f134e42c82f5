package docgen

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrRegion is wrapped by the errors of Regions.
var ErrRegion = errors.New("docgen: bad region")

// regionRE matches a generated region of a hand-written page:
//
//	<!-- docgen:include examples/greeter/main.go -->
//	…replaced by the file, in a fenced block…
//	<!-- docgen:end -->
//
//	<!-- docgen:chapters -->
//	…replaced by the list of parts and chapters, with links…
//	<!-- docgen:end -->
var regionRE = regexp.MustCompile(`(?s)(<!-- docgen:(include|chapters)([^>]*?)-->\n)(.*?)(<!-- docgen:end -->)`)

// Regions refreshes the generated regions of the page at page (a slash path
// relative to root) whose text is md. An include names a file relative to
// the repository root; an unknown file is an error wrapping ErrRegion.
func Regions(root, page, md string, parts []*Part) (string, error) {
	var firstErr error
	out := regionRE.ReplaceAllStringFunc(md, func(s string) string {
		m := regionRE.FindStringSubmatch(s)
		var body string
		switch m[2] {
		case "include":
			file := strings.TrimSpace(m[3])
			src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("%w: %s includes %q: %v", ErrRegion, page, file, err)
				}
				return s
			}
			body = fmt.Sprintf("```%s\n%s\n```\n", fenceLang(file), strings.TrimRight(string(src), "\n"))
		case "chapters":
			body = chapterList(path.Dir(page), parts)
		}
		return m[1] + body + m[5]
	})
	return out, firstErr
}

func fenceLang(file string) string {
	switch path.Ext(file) {
	case ".go":
		return "go"
	case ".sh", ".bash":
		return "sh"
	case ".md":
		return "markdown"
	}
	return "text"
}

// chapterList is the list of parts and their chapters, linked from a page
// in directory dir.
func chapterList(dir string, parts []*Part) string {
	var b strings.Builder
	for _, p := range parts {
		page := relPath(dir, PagePath(p.N))
		fmt.Fprintf(&b, "- [%s](%s)\n", p.Title, page)
		for _, c := range p.Chapters {
			fmt.Fprintf(&b, "  - [%s](%s#%s) — %s\n", c.Name, page, Slug(c.Name), c.Title)
		}
	}
	return b.String()
}
