package chapters_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// TestChapterOrderIsStable runs the chapters that promise an order many
// times: the order must never change. The expected lines are the "want"
// file of the chapter's own script, so the two cannot drift apart.
func TestChapterOrderIsStable(t *testing.T) {
	for _, chapter := range []string{"ping2", "ping_pong"} {
		t.Run(chapter, func(t *testing.T) {
			t.Parallel()
			want := wantLines(t, chapter)
			for run := range 50 {
				cmd := exec.Command(filepath.Join(binDir, chapter))
				cmd.Env = append(os.Environ(), "MP_FAST=1")
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				got := lines(string(out))
				if len(got) != len(want) {
					t.Fatalf("run %d: %d lines, want %d:\n%s", run, len(got), len(want), out)
				}
				for i := range want {
					if !want[i].MatchString(got[i]) {
						t.Fatalf("run %d, line %d: %q does not match /%s/", run, i+1, got[i], want[i])
					}
				}
			}
		})
	}
}

// wantLines reads the "want" file of testdata/<chapter>.txtar.
func wantLines(t *testing.T, chapter string) []*regexp.Regexp {
	ar, err := txtar.ParseFile(filepath.Join("testdata", chapter+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ar.Files {
		if f.Name == "want" {
			var res []*regexp.Regexp
			for _, l := range lines(string(f.Data)) {
				res = append(res, regexp.MustCompile("^(?:"+l+")$"))
			}
			return res
		}
	}
	t.Fatalf("testdata/%s.txtar has no want file", chapter)
	return nil
}

// TestDocsShowVerifiedOutput checks the output blocks of the docs against
// the chapters' scripts: a block tagged "output <chapter>" must match, line
// by line, the "want" file of testdata/<chapter>.txtar.
func TestDocsShowVerifiedOutput(t *testing.T) {
	docs, _ := filepath.Glob(filepath.Join("docs", "*.md"))
	found := 0
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		blocks := regexp.MustCompile("(?ms)^```output ([a-z0-9_]+)\n(.*?)^```").FindAllStringSubmatch(string(text), -1)
		for _, b := range blocks {
			found++
			chapter, got := b[1], lines(b[2])
			want := wantLines(t, chapter)
			if len(got) != len(want) {
				t.Errorf("%s, output of %s: %d lines, the chapter prints %d", doc, chapter, len(got), len(want))
				continue
			}
			for i := range want {
				if !want[i].MatchString(got[i]) {
					t.Errorf("%s, output of %s, line %d: %q does not match what the chapter prints, /%s/", doc, chapter, i+1, got[i], want[i])
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("no output blocks found in docs/")
	}
}
