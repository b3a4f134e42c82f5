package docgen

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeTree makes files under a temporary root, by slash path.
func writeTree(t *testing.T, files map[string]string) string {
	root := t.TempDir()
	for p, text := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(text), 0o644))
	}
	return root
}

// TestStale injects the fault the drift test exists for: a page edited by
// hand (or not regenerated) must be reported, with the line that differs;
// a missing page too; an identical one not.
func TestStale(t *testing.T) {
	root := writeTree(t, map[string]string{
		"docs/same.md":   "a\nb\n",
		"docs/edited.md": "a\nB by hand\n",
	})
	stale := Stale(root, []File{
		{Path: "docs/same.md", Data: []byte("a\nb\n")},
		{Path: "docs/edited.md", Data: []byte("a\nb\n")},
		{Path: "docs/missing.md", Data: []byte("x\n")},
	})
	require.Len(t, stale, 2)
	assert.Contains(t, stale[0], `docs/edited.md: line 2 is "B by hand", the generator writes "b"`)
	assert.Contains(t, stale[1], "docs/missing.md")

	written, err := Write(root, []File{{Path: "docs/same.md", Data: []byte("a\nb\n")}, {Path: "docs/edited.md", Data: []byte("a\nb\n")}})
	require.NoError(t, err)
	assert.Equal(t, []string{"docs/edited.md"}, written, "only what differs is written")
	assert.Empty(t, Stale(root, []File{{Path: "docs/edited.md", Data: []byte("a\nb\n")}}))
}

func TestLoadPartFindsAndOrdersChapters(t *testing.T) {
	root := writeTree(t, map[string]string{
		"part1/README.md":          "# Part I — one\n\nIntro with a [link](../docs/x.md).\n",
		"part1/b/main.go":          "// Chapter 2, b: second.\npackage main\n\nfunc main() {}\n",
		"part1/a/main.go":          "// Chapter 1, a: first.\npackage main\n\nfunc main() {}\n",
		"part1/zz/main.go":         "// Package main without a number.\npackage main\n\nfunc main() {}\n",
		"part1/lib/main.go":        "package lib\n",
		"part1/a/doc.md":           "args: -x\n\n## Try this\n\nIt.\n",
		"part2/README.md":          "# Part II\n",
		"partial/notapart/main.go": "package main\n",
	})
	ns, err := Parts(root)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2}, ns)

	p, err := LoadPartInfo(root, 1)
	require.NoError(t, err)
	assert.Equal(t, "Part I — one", p.Title)
	assert.Equal(t, "Intro with a [link](x.md).", p.Intro)
	var names []string
	for _, c := range p.Chapters {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"a", "b", "zz"}, names, "numbered chapters first, in order; a package that is not main is no chapter")
	assert.Equal(t, "first", p.Chapters[0].Title)
	assert.Equal(t, []string{"-x"}, p.Chapters[0].Meta.Args)
	assert.Equal(t, "go run ./part1/a -x", RunCommand(p.Chapters[0]))

	page := RenderPart(p, map[string]string{"a": "A\n", "b": "B\n", "zz": "Z\n"})
	anchors := Anchors(page)
	for _, c := range []string{"a", "b", "zz"} {
		assert.True(t, anchors[c], "section for %s", c)
		assert.Contains(t, page, "```output "+c+"\n")
	}
	assert.Contains(t, page, "### Try this\n\nIt.\n")

	empty, err := LoadPartInfo(root, 2)
	require.NoError(t, err)
	assert.Contains(t, RenderPart(empty, nil), "No chapters yet.")
}

func TestRegions(t *testing.T) {
	root := writeTree(t, map[string]string{"examples/x/main.go": "package main\n\nfunc main() {}\n"})
	parts := []*Part{{N: 1, Title: "Part I", Chapters: []*Chapter{{Name: "ping", Title: "say hello"}}}}
	md := "# Page\n<!-- docgen:include examples/x/main.go -->\nstale\n<!-- docgen:end -->\n" +
		"<!-- docgen:chapters -->\n<!-- docgen:end -->\n" +
		"<!-- docgen:run examples/x -a -->\nold output\n<!-- docgen:end -->\n"
	assert.Len(t, RunRegions(md), 1)
	got, err := Regions(root, "docs/page.md", md, parts, map[string]string{"examples/x": "new output\n"})
	require.NoError(t, err)
	assert.Equal(t, "# Page\n<!-- docgen:include examples/x/main.go -->\n```go\npackage main\n\nfunc main() {}\n```\n<!-- docgen:end -->\n"+
		"<!-- docgen:chapters -->\n- [Part I](part1.md)\n  - [ping](part1.md#ping) — say hello\n<!-- docgen:end -->\n"+
		"<!-- docgen:run examples/x -a -->\n```output example_x\nnew output\n```\n<!-- docgen:end -->\n", got)

	_, err = Regions(root, "docs/page.md", "<!-- docgen:include nothing.go -->\n<!-- docgen:end -->", parts, nil)
	assert.ErrorIs(t, err, ErrRegion)
	_, err = Regions(root, "docs/page.md", "<!-- docgen:run examples/y -->\n<!-- docgen:end -->", parts, nil)
	assert.ErrorIs(t, err, ErrRegion)
}
