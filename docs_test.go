package chapters_test

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/docgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsAreGenerated runs the generator on the chapter binaries that
// TestMain built, and compares every page it owns with the one on disk: a
// chapter whose code, comments, doc.md or output changed without the pages
// being regenerated fails here.
func TestDocsAreGenerated(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tag := "docs" + randomHex(4)
	files, err := docgen.Generate(ctx, docgen.Options{Root: ".", BinDir: binDir, Env: []string{"MP_TEST_TAG=" + tag}})
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, s := range docgen.Stale(".", files) {
		t.Errorf("out of date: %s", s)
	}
	if t.Failed() {
		t.Log("to fix: make docs   (or: go generate ./internal/docgen)")
	}
	assert.Empty(t, taggedProcesses(tag), "the chapter runs left processes behind")
}

// markdownFiles are the pages whose links must resolve.
func markdownFiles(t *testing.T) []string {
	var files []string
	for _, pattern := range []string{"*.md", "docs/*.md", "part*/*.md", "part*/*/*.md", "examples/*/*.md"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.NotEmpty(t, files)
	return files
}

var (
	inlineLinkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	refLinkRE    = regexp.MustCompile(`(?m)^\s*\[[^\]]+\]:\s*(\S+)`)
	codeSpanRE   = regexp.MustCompile("`[^`\n]*`")
	commentRE    = regexp.MustCompile(`(?s)<!--.*?-->`)
)

// unfenced returns the lines of a Markdown text outside fenced code blocks.
func unfenced(md string) []string {
	var lines []string
	inFence := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if !inFence {
			lines = append(lines, line)
		}
	}
	return lines
}

// links returns the link targets of a Markdown text, outside code and
// HTML comments (a doc.md's exercises hold code there).
func links(md string) []string {
	var prose []string
	for _, line := range unfenced(commentRE.ReplaceAllString(md, "")) {
		prose = append(prose, codeSpanRE.ReplaceAllString(line, ""))
	}
	text := strings.Join(prose, "\n")
	var targets []string
	for _, re := range []*regexp.Regexp{inlineLinkRE, refLinkRE} {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
	}
	return targets
}

// TestDocsLinksResolve checks every relative link of every page (the
// README, docs/, the parts' READMEs, the chapters' doc.md): the file
// exists, and an anchor names a heading of that file.
func TestDocsLinksResolve(t *testing.T) {
	checked := 0
	for _, file := range markdownFiles(t) {
		text, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, target := range links(string(text)) {
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			name, frag, _ := strings.Cut(target, "#")
			dest := file
			if name != "" {
				dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(name))
			}
			st, err := os.Stat(dest)
			if err != nil {
				t.Errorf("%s: link %q: %v", file, target, err)
				continue
			}
			if frag == "" {
				continue
			}
			if st.IsDir() || path.Ext(dest) != ".md" {
				t.Errorf("%s: link %q: an anchor in something that is not a Markdown page", file, target)
				continue
			}
			destText, err := os.ReadFile(dest)
			require.NoError(t, err)
			if !docgen.Anchors(string(destText))[frag] {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", file, target, dest, frag)
			}
		}
	}
	assert.Greater(t, checked, 10, "too few links found: is the link pattern broken?")
}

// TestEveryChapterHasPageAndScript: each chapter directory has a section
// on its part's page, with its output, and a testscript of its own.
func TestEveryChapterHasPageAndScript(t *testing.T) {
	dirs, err := docgen.ChapterDirs(".")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, dir := range dirs {
		c, err := docgen.LoadChapter(".", dir)
		require.NoError(t, err, dir)
		page, err := os.ReadFile(filepath.FromSlash(docgen.PagePath(c.Part)))
		if !assert.NoError(t, err, "%s has no page: run make docs", dir) {
			continue
		}
		assert.True(t, docgen.Anchors(string(page))[docgen.Slug(c.Name)], "%s has no section ## %s: run make docs", docgen.PagePath(c.Part), c.Name)
		assert.Contains(t, string(page), "```output "+c.Name+"\n", "%s shows no output of %s", docgen.PagePath(c.Part), c.Name)
		assert.FileExists(t, filepath.Join("testdata", c.Name+".txtar"), "chapter %s has no testscript", dir)
		// Every chapter handles its command line alike: -h, a bad flag
		// and an argument, each checked by a script of its own.
		assert.FileExists(t, filepath.Join("testdata", c.Name+"_usage.txtar"), "chapter %s has no script of its usage (-h, a bad flag: status 2)", dir)
	}
}

// killByNameRE finds a command that signals processes by their name.
var killByNameRE = regexp.MustCompile(`\b(pkill|killall)\b`)

// TestChapterPagesNeverKillByName: no chapter's page tells the reader to
// signal processes by name (pkill, killall): on a shared workshop machine
// that reaches every participant's process of that name, as
// docs/README.md and troubleshooting.md say. An exercise names a PID.
func TestChapterPagesNeverKillByName(t *testing.T) {
	pages := must(filepath.Glob("part*/*/doc.md"))
	require.NotEmpty(t, pages)
	for _, page := range pages {
		for i, line := range strings.Split(string(must(os.ReadFile(page))), "\n") {
			if killByNameRE.MatchString(line) {
				t.Errorf("%s:%d signals processes by name: %s", page, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// figuresRE finds the figures of a text: a number with a unit.
var figuresRE = regexp.MustCompile(`\d[\d,]*(?:\.\d+)?(?:–\d[\d,]*(?:\.\d+)?)? ?(?:µs|ns|ms|s|×|%|M/s|MiB|KiB|GB/s|MB/s)`)

// quoteRE finds a paragraph that quotes figures from another page: from the
// marker to the next blank line.
var quoteRE = regexp.MustCompile(`(?s)<!-- figures from ([\w./-]+) -->\n(.*?)(?:\n[ \t]*\n|$)`)

// TestQuotedFiguresHaveOneSource: a figure a page quotes from another (the
// paragraph after "<!-- figures from PAGE -->") is in that page, as it is
// written there: a measurement has one source, and a page that quotes it
// cannot drift from it. The marker's path is relative to the page; a
// chapter's doc.md is checked, not the generated page that copies it.
func TestQuotedFiguresHaveOneSource(t *testing.T) {
	quoted := 0
	for _, page := range docPages(t) {
		text := string(must(os.ReadFile(page)))
		if strings.HasPrefix(text, "<!-- Code generated") {
			continue
		}
		for _, m := range quoteRE.FindAllStringSubmatch(text, -1) {
			source, err := os.ReadFile(filepath.Join(filepath.Dir(page), filepath.FromSlash(m[1])))
			if err != nil {
				t.Errorf("%s quotes %s: %v", page, m[1], err)
				continue
			}
			figures := figuresRE.FindAllString(m[2], -1)
			if len(figures) == 0 {
				t.Errorf("%s: no figure after the marker of %s", page, m[1])
			}
			for _, f := range figures {
				quoted++
				if !strings.Contains(string(source), f) {
					t.Errorf("%s quotes %q from %s, which does not say it", page, f, m[1])
				}
			}
		}
	}
	assert.NotZero(t, quoted, "no quoted figures found")
}
