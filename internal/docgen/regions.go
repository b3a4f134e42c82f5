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
//
//	<!-- docgen:run examples/greeter Ada Grace -->
//	…replaced by what that program printed, normalised, in a block
//	tagged "output example_greeter"…
//	<!-- docgen:end -->
var regionRE = regexp.MustCompile(`(?s)(<!-- docgen:(include|chapters|run)([^>]*?)-->\n)(.*?)(<!-- docgen:end -->)`)

// runRegion is the program a "run" region names: a main package directory
// (relative to the root) and its arguments.
func runRegion(spec string) *Chapter {
	f := strings.Fields(spec)
	if len(f) == 0 {
		return nil
	}
	return &Chapter{Name: path.Base(f[0]), Dir: f[0], Meta: Meta{Args: f[1:]}}
}

// RunRegions returns the programs that the run regions of md name.
func RunRegions(md string) []*Chapter {
	var cs []*Chapter
	for _, m := range regionRE.FindAllStringSubmatch(md, -1) {
		if m[2] == "run" {
			if c := runRegion(m[3]); c != nil {
				cs = append(cs, c)
			}
		}
	}
	return cs
}

// Regions refreshes the generated regions of the page at page (a slash path
// relative to root) whose text is md. An include names a file relative to
// the repository root; an unknown file is an error wrapping ErrRegion.
//
// A run region's output comes from outputs, by program directory.
func Regions(root, page, md string, parts []*Part, outputs map[string]string) (string, error) {
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
		case "run":
			c := runRegion(m[3])
			out, ok := "", c != nil
			if ok {
				out, ok = outputs[c.Dir]
			}
			if !ok {
				if firstErr == nil {
					firstErr = fmt.Errorf("%w: %s: no output for run region %q", ErrRegion, page, strings.TrimSpace(m[3]))
				}
				return s
			}
			body = fmt.Sprintf("```output example_%s\n%s```\n", c.Name, out)
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
