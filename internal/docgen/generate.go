package docgen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Options says where the repository is and how to run its chapters.
type Options struct {
	// Root is the repository root (where go.mod is).
	Root string
	// BinDir holds chapter binaries already built, one per chapter named
	// after its directory. Empty: Generate builds them in a temporary
	// directory and removes it.
	BinDir string
	// Env is added to the environment of every chapter run.
	Env []string
}

// File is a page as Generate would write it.
type File struct {
	Path string // slash-separated, relative to the root, e.g. "docs/part1.md"
	Data []byte
}

// Generate builds and runs every chapter and every exercise of their doc.md
// (see Exercise), and returns every page it owns:
// docs/partN.md for each partN directory, and each hand-written page (the
// Markdown files in docs/ and the README) that holds docgen regions, with
// those regions refreshed. It writes nothing.
func Generate(ctx context.Context, opts Options) ([]File, error) {
	root := opts.Root
	ns, parts, dirs, err := loadParts(root)
	if err != nil {
		return nil, err
	}
	handWritten, programs, err := handWrittenPages(root, ns)
	if err != nil {
		return nil, err
	}
	for _, c := range programs {
		dirs = append(dirs, c.Dir)
	}
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = os.MkdirTemp("", "docgen-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(binDir)
		if err := Build(ctx, root, binDir, dirs); err != nil {
			return nil, err
		}
	}
	files, err := partPages(ctx, root, binDir, parts, opts.Env)
	if err != nil {
		return nil, err
	}
	outputs := map[string]string{}
	for _, c := range programs {
		if outputs[c.Dir], err = Run(ctx, binDir, c, opts.Env); err != nil {
			return nil, err
		}
	}
	rels := make([]string, 0, len(handWritten))
	for rel := range handWritten {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		out, err := Regions(root, rel, handWritten[rel], parts, outputs)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: rel, Data: []byte(out)})
	}
	return files, nil
}

// loadParts reads the parts under root: their numbers, their chapters, and
// the chapters' directories (to build).
func loadParts(root string) (ns []int, parts []*Part, dirs []string, err error) {
	if ns, err = Parts(root); err != nil {
		return nil, nil, nil, err
	}
	for _, n := range ns {
		p, err := LoadPartInfo(root, n)
		if err != nil {
			return nil, nil, nil, err
		}
		parts = append(parts, p)
		for _, c := range p.Chapters {
			dirs = append(dirs, c.Dir)
		}
	}
	return ns, parts, dirs, nil
}

// handWrittenPages finds the hand-written pages with generated regions
// (docs/*.md but the parts' pages, and README.md), by path from root, and
// the programs their run regions name.
func handWrittenPages(root string, ns []int) (map[string]string, []*Chapter, error) {
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, nil, err
	}
	pages = append(pages, filepath.Join(root, "README.md"))
	handWritten := map[string]string{}
	var programs []*Chapter
	for _, abs := range pages {
		rel, err := filepath.Rel(root, abs)
		if err != nil {
			return nil, nil, err
		}
		rel = filepath.ToSlash(rel)
		if isPartPage(rel, ns) {
			continue
		}
		text, err := os.ReadFile(abs)
		if err != nil {
			return nil, nil, err
		}
		if bytes.Contains(text, []byte("<!-- docgen:")) {
			handWritten[rel] = string(text)
			programs = append(programs, RunRegions(string(text))...)
		}
	}
	return handWritten, programs, nil
}

// partPages runs the chapters and their exercises and renders each part's
// page. The chapters' own runs come first, one at a time: some chapters'
// output depends on their timing (main1's), and the exercises' builds would
// compete for the CPUs. Then the exercises, in parallel with each other.
func partPages(ctx context.Context, root, binDir string, parts []*Part, env []string) ([]File, error) {
	var chapters []*Chapter
	for _, p := range parts {
		chapters = append(chapters, p.Chapters...)
	}
	chapterOutputs := map[string]string{}
	for _, c := range chapters {
		var err error
		if chapterOutputs[c.Name], err = Run(ctx, binDir, c, env); err != nil {
			return nil, err
		}
	}
	exercisePages, err := RunExercises(ctx, root, binDir, chapters, env)
	if err != nil {
		return nil, err
	}
	var files []File
	for _, p := range parts {
		outputs := map[string]string{}
		for k, v := range exercisePages {
			outputs[k] = v
		}
		for _, c := range p.Chapters {
			outputs[c.Name] = chapterOutputs[c.Name]
		}
		files = append(files, File{Path: PagePath(p.N), Data: []byte(RenderPart(p, outputs))})
	}
	return files, nil
}

// isPartPage reports whether rel is the generated page of one of parts.
func isPartPage(rel string, parts []int) bool {
	for _, n := range parts {
		if rel == PagePath(n) {
			return true
		}
	}
	return false
}

// Stale returns the files whose content on disk under root differs from
// what Generate returned (or that are missing), each with the first line
// that differs.
func Stale(root string, files []File) []string {
	var stale []string
	for _, f := range files {
		disk, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)))
		if err != nil {
			stale = append(stale, fmt.Sprintf("%s: %v", f.Path, err))
			continue
		}
		if !bytes.Equal(disk, f.Data) {
			stale = append(stale, f.Path+": "+firstDiff(string(disk), string(f.Data)))
		}
	}
	return stale
}

// firstDiff describes the first line where have and want differ.
func firstDiff(have, want string) string {
	h, w := strings.Split(have, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(h), len(w)); i++ {
		var hl, wl string
		if i < len(h) {
			hl = h[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if hl != wl || i >= len(h) || i >= len(w) {
			return fmt.Sprintf("line %d is %q, the generator writes %q", i+1, hl, wl)
		}
	}
	return "same lines, different bytes"
}

// Write writes the files under root that differ from what is on disk, and
// returns their paths.
func Write(root string, files []File) ([]string, error) {
	var written []string
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if disk, err := os.ReadFile(p); err == nil && bytes.Equal(disk, f.Data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return written, err
		}
		written = append(written, f.Path)
	}
	return written, nil
}
