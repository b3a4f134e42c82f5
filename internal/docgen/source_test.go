package docgen

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitSource(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []Block
	}{
		{
			name: "prose then code",
			src:  "package main\n\n// A says why.\nvar a = 1\n",
			want: []Block{{Code: "package main"}, {Prose: "A says why.", Code: "var a = 1"}},
		},
		{
			name: "comment inside a function splits it",
			src:  "func main() {\n\t// First this.\n\tx()\n}\n",
			want: []Block{{Code: "func main() {"}, {Prose: "First this.", Code: "\tx()\n}"}},
		},
		{
			name: "comment, blank line, comment: two paragraphs for the next code",
			src:  "// One.\n\n// Two.\nvar b = 2\n",
			want: []Block{{Prose: "One.\n\nTwo.", Code: "var b = 2"}},
		},
		{
			name: "a comment before a blank line still introduces the code",
			src:  "// Why.\n\nvar c = 3\n",
			want: []Block{{Prose: "Why.", Code: "var c = 3"}},
		},
		{
			name: "trailing comments stay in the code",
			src:  "// Why.\nx := 1 // what\n",
			want: []Block{{Prose: "Why.", Code: "x := 1 // what"}},
		},
		{
			name: "directives are not prose",
			src:  "//go:generate echo hi\nvar d = 4\n",
			want: []Block{{Code: "//go:generate echo hi\nvar d = 4"}},
		},
		{
			name: "one line skipped",
			src:  "// Why.\na()\nflagStuff() //docs:skip\nb()\n",
			want: []Block{{Prose: "Why.", Code: "a()\n// … 1 line not shown here (see main.go)\nb()"}},
		},
		{
			name: "a region skipped",
			src:  "a()\n//docs:skip\n// hidden prose\nhidden()\nhidden()\n//docs:end\nb()\n",
			want: []Block{{Code: "a()\n// … 3 lines not shown here (see main.go)\nb()"}},
		},
		{
			name: "indented comment lines are code in the prose",
			src:  "// Like this:\n//\n//\tmp.Init()\n//\n// Then.\nvar e = 5\n",
			want: []Block{{Prose: "Like this:\n\n```go\nmp.Init()\n```\n\nThen.", Code: "var e = 5"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, SplitSource(strings.Split(tt.src, "\n")))
		})
	}
}

func TestSplitPackageComment(t *testing.T) {
	n, title, intro := splitPackageComment("Chapter 3, ping_pong: get an answer.\n\nWhy it matters.\n\nRun it with: go run ./part1/ping_pong\n")
	assert.Equal(t, 3, n)
	assert.Equal(t, "get an answer", title)
	assert.Equal(t, "Why it matters.", intro)

	n, title, intro = splitPackageComment("Something else entirely.\n")
	assert.Zero(t, n)
	assert.Empty(t, title)
	assert.Equal(t, "Something else entirely.", intro)
}
