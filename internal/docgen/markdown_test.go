package docgen

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRebaseLinksLeavesCodeAlone injects the fault that mangled crash's
// exercise 2 on its page: "[float64](w.File(0)" inside a code span looks
// like a Markdown link, and rebasing it for docs/ rewrote it into
// "[float64](../part3/crash/w.File(0)". Code spans (one line, across lines,
// with double backticks) and fenced blocks must come out as they went in;
// the links around them are still rebased.
func TestRebaseLinksLeavesCodeAlone(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{
			name: "a code span that looks like a link",
			in:   "open it with `shm.OpenFile[float64](w.File(0), rows, columns)`, see [x](main.go)",
			want: "open it with `shm.OpenFile[float64](w.File(0), rows, columns)`, see [x](../part3/crash/main.go)",
		},
		{
			name: "a code span across two lines of a paragraph",
			in:   "1. Use `a[int](b.c(0),\n   d)` and [y](doc.md).\n",
			want: "1. Use `a[int](b.c(0),\n   d)` and [y](../part3/crash/doc.md).\n",
		},
		{
			name: "double backticks around a backtick",
			in:   "``x[`a`](b)`` [z](main.go)",
			want: "``x[`a`](b)`` [z](../part3/crash/main.go)",
		},
		{
			name: "a fenced block, and an indented one in a list",
			in:   "```go\nx := m[k](f)\n```\n\n   ```sh\n   [a](b)\n   ```\n[l](main.go)\n",
			want: "```go\nx := m[k](f)\n```\n\n   ```sh\n   [a](b)\n   ```\n[l](../part3/crash/main.go)\n",
		},
		{
			name: "a backtick without its pair is text",
			in:   "it's a ` sign [l](main.go)",
			want: "it's a ` sign [l](../part3/crash/main.go)",
		},
		{
			name: "a span does not run past a blank line",
			in:   "a ` b\n\n[l](main.go) `c[d](e)`",
			want: "a ` b\n\n[l](../part3/crash/main.go) `c[d](e)`",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, rebaseLinks(tt.in, "part3/crash", "docs"))
		})
	}
}

// TestRenderLeavesExerciseCodeAlone feeds a doc.md with such code through
// the whole page: the exercise's code span, and a heading-like line in a
// fenced block, reach the page unchanged.
func TestRenderLeavesExerciseCodeAlone(t *testing.T) {
	meta, err := ParseMeta("## Try this\n\n1. Open it with `shm.OpenFile[float64](w.File(0), rows, columns)`.\n\n```sh\n## not a heading\n```\n")
	require.NoError(t, err)
	p := &Part{N: 3, Title: "Part III", Chapters: []*Chapter{{Part: 3, Name: "crash", Dir: "part3/crash", Title: "crash", Meta: meta}}}
	page := RenderPart(p, map[string]string{"crash": "out\n"})
	assert.Contains(t, page, "`shm.OpenFile[float64](w.File(0), rows, columns)`")
	assert.Contains(t, page, "```sh\n## not a heading\n```")
	assert.False(t, strings.Contains(page, "part3/crash/w.File"), "code rewritten as a link:\n%s", page)
}
