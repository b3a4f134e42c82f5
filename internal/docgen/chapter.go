package docgen

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ErrNoChapter is wrapped by the errors of LoadChapter for a directory that
// is not a chapter (no main.go, or not package main).
var ErrNoChapter = errors.New("docgen: not a chapter")

// Chapter is one runnable chapter, partN/<name>/main.go, as read from disk.
type Chapter struct {
	Part   int    // N of partN
	Name   string // directory name, e.g. "ping"; also the binary's name
	Dir    string // slash-separated path from the repository root, e.g. "part1/ping"
	Number int    // N of "Chapter N, name: title." in the package comment; 0 if absent
	Title  string // what the chapter teaches, in one line
	Intro  string // the rest of the package comment, as Markdown
	Blocks []Block
	Meta   Meta // from doc.md beside main.go; zero if there is none
}

// titleRE matches the first line of a chapter's package comment:
// "Chapter 1, ping: call a method in the frontend, and it runs in the backend."
var titleRE = regexp.MustCompile(`^Chapter (\d+), ([A-Za-z0-9_-]+): (.*?)\.?$`)

// ChapterDirs returns the chapter directories under root, part*/*/main.go,
// as slash-separated relative paths, sorted.
func ChapterDirs(root string) ([]string, error) {
	mains, err := filepath.Glob(filepath.Join(root, "part*", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, m := range mains {
		rel, err := filepath.Rel(root, filepath.Dir(m))
		if err != nil {
			return nil, err
		}
		if _, ok := partNumber(filepath.Dir(rel)); ok {
			dirs = append(dirs, filepath.ToSlash(rel))
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

// partNumber reads N from "partN".
func partNumber(dir string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(dir, "part"))
	return n, err == nil && strings.HasPrefix(dir, "part") && n > 0
}

// LoadChapter reads the chapter in dir (relative to root): its main.go and,
// if present, its doc.md.
func LoadChapter(root, dir string) (*Chapter, error) {
	part, ok := partNumber(filepath.Dir(filepath.FromSlash(dir)))
	if !ok {
		return nil, fmt.Errorf("%w: %s is not under a partN directory", ErrNoChapter, dir)
	}
	path := filepath.Join(root, filepath.FromSlash(dir), "main.go")
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoChapter, err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("docgen: %w", err)
	}
	if f.Name.Name != "main" {
		return nil, fmt.Errorf("%w: %s is package %s", ErrNoChapter, path, f.Name.Name)
	}
	c := &Chapter{Part: part, Name: filepath.Base(dir), Dir: dir}
	c.Number, c.Title, c.Intro = splitPackageComment(f.Doc.Text())
	if c.Title == "" {
		c.Title = c.Name
	}
	lines := strings.Split(string(src), "\n")
	c.Blocks = SplitSource(lines[fset.Position(f.Package).Line-1:])

	meta, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), "doc.md"))
	switch {
	case err == nil:
		if c.Meta, err = ParseMeta(string(meta)); err != nil {
			return nil, fmt.Errorf("docgen: %s/doc.md: %w", dir, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("docgen: %w", err)
	}
	return c, nil
}

// splitPackageComment takes the title from the first paragraph of a package
// comment ("Chapter N, name: title.") and returns the rest as the intro.
func splitPackageComment(doc string) (number int, title, intro string) {
	doc = strings.TrimSpace(doc)
	first, rest, _ := strings.Cut(doc, "\n\n")
	first = strings.Join(strings.Fields(first), " ")
	if m := titleRE.FindStringSubmatch(first); m != nil {
		number, _ = strconv.Atoi(m[1])
		return number, m[3], dropRunLine(rest)
	}
	return 0, "", doc
}

// LoadPart reads every chapter of part n under root, in the order of their
// chapter numbers (chapters without one come last, by name).
func LoadPart(root string, n int) ([]*Chapter, error) {
	dirs, err := ChapterDirs(root)
	if err != nil {
		return nil, err
	}
	var cs []*Chapter
	for _, d := range dirs {
		if p, _ := partNumber(filepath.Dir(filepath.FromSlash(d))); p != n {
			continue
		}
		c, err := LoadChapter(root, d)
		if errors.Is(err, ErrNoChapter) {
			continue
		}
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if (a.Number == 0) != (b.Number == 0) {
			return a.Number != 0
		}
		if a.Number != b.Number {
			return a.Number < b.Number
		}
		return a.Name < b.Name
	})
	return cs, nil
}

// Parts returns the part numbers under root: every directory partN, with or
// without chapters, sorted.
func Parts(root string) ([]int, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "part*"))
	if err != nil {
		return nil, err
	}
	var ns []int
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue
		}
		if n, ok := partNumber(filepath.Base(d)); ok {
			ns = append(ns, n)
		}
	}
	sort.Ints(ns)
	return ns, nil
}

// dropRunLine removes a "Run it with: …" paragraph: the page shows the
// command in a block of its own.
func dropRunLine(text string) string {
	paras := strings.Split(strings.TrimSpace(text), "\n\n")
	kept := paras[:0]
	for _, p := range paras {
		if !strings.HasPrefix(p, "Run it with:") {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "\n\n")
}
