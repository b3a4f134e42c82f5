package chapters_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mpgo/mp/internal/docgen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mpNames returns the exported names of package mp: top-level
// declarations ("Init", "SharedArray"), and methods and struct fields as
// "Type.Name" ("Process.Send", "Options.Events").
func mpNames(t *testing.T) map[string]bool { return packageNames(t, "mp") }

// packageNames returns the names declared in the package in dir, as
// mpNames does for mp.
func packageNames(t *testing.T, dir string) map[string]bool {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range file.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					names[d.Name.Name] = true
					continue
				}
				recv := d.Recv.List[0].Type
				if s, ok := recv.(*ast.StarExpr); ok {
					recv = s.X
				}
				switch ix := recv.(type) {
				case *ast.IndexExpr: // Array[T]
					recv = ix.X
				case *ast.IndexListExpr: // Command[Req, Resp]
					recv = ix.X
				}
				if id, ok := recv.(*ast.Ident); ok {
					names[id.Name+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = true
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, f := range st.Fields.List {
								for _, n := range f.Names {
									names[s.Name.Name+"."+n.Name] = true
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
	}
	return names
}

var (
	mpNameRE   = regexp.MustCompile(`\bmp\.([A-Z]\w*)(?:\.([A-Z]\w*))?`)
	repoFileRE = regexp.MustCompile("(?:^|[\\s`(\\[\"'])((?:mp|aux|examples|part[0-9])/[\\w./-]+\\.(?:go|s|bash|py))\\b")
	mermaidRE  = regexp.MustCompile("(?s)```mermaid\n(.*?)```")
)

// TestDocsNameWhatExists: every mp.Name (and mp.Type.Method) that a page
// mentions is in package mp, and every source file it names exists. The
// architecture diagram must be among what is checked, so it cannot go
// stale when the library changes.
func TestDocsNameWhatExists(t *testing.T) {
	names := mpNames(t)
	require.True(t, names["Init"] && names["Process.Send"], "parsing package mp found too little")
	pages := append([]string{"README.md"}, must(filepath.Glob("docs/*.md"))...)
	diagrams := 0
	for _, page := range pages {
		text := string(must(os.ReadFile(page)))
		for _, m := range mpNameRE.FindAllStringSubmatch(text, -1) {
			name := m[1]
			if m[2] != "" {
				name += "." + m[2]
			}
			if !names[name] {
				t.Errorf("%s names mp.%s, which package mp does not have", page, name)
			}
		}
		for _, m := range repoFileRE.FindAllStringSubmatch(text, -1) {
			if _, err := os.Stat(m[1]); err != nil {
				t.Errorf("%s names %s: %v", page, m[1], err)
			}
		}
		for _, d := range mermaidRE.FindAllStringSubmatch(text, -1) {
			diagrams++
			assert.Regexp(t, mpNameRE, d[1], "%s: a diagram that names nothing of package mp cannot be checked", page)
		}
	}
	assert.NotZero(t, diagrams, "no Mermaid diagram found in docs/")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestTroubleshootingListsExitCodes: every backend exit code that package
// mp declares (exitName = N, in mp/backend.go and beside it) has a row in
// the table of docs/troubleshooting.md.
func TestTroubleshootingListsExitCodes(t *testing.T) {
	declared := regexp.MustCompile(`(?m)^\s*(?:const\s+)?(exit[A-Z]\w*)\s*=\s*([0-9]+)`)
	page := string(must(os.ReadFile("docs/troubleshooting.md")))
	found := 0
	for _, f := range must(filepath.Glob("mp/*.go")) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		for _, c := range declared.FindAllStringSubmatch(string(must(os.ReadFile(f))), -1) {
			found++
			row := regexp.MustCompile(`(?m)^\| ` + c[2] + ` \|`)
			assert.True(t, row.MatchString(page), "exit status %s (%s in %s) is not explained in docs/troubleshooting.md", c[2], c[1], f)
		}
	}
	require.NotZero(t, found, "no exit codes found in mp/*.go")
}

// docPages are the pages whose code spans name the library and the
// chapters' flags: the README, docs/, the parts' READMEs and the chapters'
// doc.md.
func docPages(t *testing.T) []string {
	var pages []string
	for _, pattern := range []string{"README.md", "docs/*.md", "part*/README.md", "part*/*/doc.md"} {
		pages = append(pages, must(filepath.Glob(pattern))...)
	}
	require.NotEmpty(t, pages)
	return pages
}

var (
	// pkgNameRE finds mp.X, shm.X, manager.X and their Type.Member.
	pkgNameRE = regexp.MustCompile(`\b(mp|shm|manager)\.([A-Z]\w*)(?:\.([A-Z]\w*))?`)
	// typeMemberRE finds Type.Member in a code span that is only that,
	// perhaps with a call's parentheses: `Process.Close`, `Array.Data()`.
	typeMemberRE = regexp.MustCompile("^`([A-Z]\\w*)\\.([A-Z]\\w*)(?:\\(\\))?`$")
	// runRE finds a chapter's command line in a code span.
	runRE = regexp.MustCompile(`go run \./(part[0-9]+/[a-z0-9_]+)((?: +-[^ ` + "`" + `]+(?: +[^- ` + "`" + `][^ ` + "`" + `]*)?)*)`)
	// usageFlagRE finds the flags in a chapter's -h, as the flag package
	// prints them.
	usageFlagRE = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
	// notOurs are Type.Member names of other packages that the pages may
	// name without a package.
	notOurs = map[string]bool{"Cmd.WaitDelay": true, "Cmd.Wait": true, "Cmd.Start": true, "Cmd.Cancel": true, "M.Run": true}
)

// codeSpans returns the code spans of a Markdown text, outside fenced
// blocks (whose code is checked by the compiler when it is ours).
func codeSpans(md string) []string {
	var spans []string
	for _, line := range unfenced(md) {
		spans = append(spans, codeSpanRE.FindAllString(line, -1)...)
	}
	return spans
}

// TestDocsNameWhatExistsInCode: every identifier in backquotes of the forms
// mp.X, shm.X, manager.X (and their .Member), Type.Member, and every flag of
// a chapter's command line in backquotes, exists in the code. A rename
// that leaves a page behind fails here (SharedArray.Data was named for
// months after the type became shm.Array).
func TestDocsNameWhatExistsInCode(t *testing.T) {
	pkgs := map[string]map[string]bool{
		"mp":      packageNames(t, "mp"),
		"shm":     packageNames(t, "mp/shm"),
		"manager": packageNames(t, "mp/manager"),
	}
	all := map[string]bool{}
	for _, names := range pkgs {
		for n := range names {
			all[n] = true
		}
	}
	// The flags of each chapter, as its -h lists them.
	flags := map[string]map[string]bool{}
	for _, dir := range must(docgen.ChapterDirs(".")) {
		flags[dir] = map[string]bool{"h": true, "help": true}
		out, _ := exec.Command(filepath.Join(binDir, path.Base(dir)), "-h").CombinedOutput()
		for _, m := range usageFlagRE.FindAllStringSubmatch(string(out), -1) {
			flags[dir][m[1]] = true
		}
	}
	require.True(t, flags["part1/shm2"]["dtype"], "no flags found in shm2 -h")
	checked := 0
	for _, page := range docPages(t) {
		for _, span := range codeSpans(string(must(os.ReadFile(page)))) {
			for _, m := range pkgNameRE.FindAllStringSubmatch(span, -1) {
				checked++
				name := m[2]
				if m[3] != "" && pkgs[m[1]][m[2]+"."+m[3]] {
					name += "." + m[3]
				} else if m[3] != "" && !pkgs[m[1]][m[2]] {
					name += "." + m[3]
				}
				if !pkgs[m[1]][name] {
					t.Errorf("%s: %s names %s.%s, which package %s does not have", page, span, m[1], name, m[1])
				}
			}
			if m := typeMemberRE.FindStringSubmatch(span); m != nil && !notOurs[m[1]+"."+m[2]] {
				checked++
				if !all[m[1]+"."+m[2]] {
					t.Errorf("%s: %s names %s.%s, which no package of the library has", page, span, m[1], m[2])
				}
			}
			for _, m := range runRE.FindAllStringSubmatch(span, -1) {
				known, ok := flags[m[1]]
				if !ok {
					t.Errorf("%s: %s runs %s, which is not a chapter", page, span, m[1])
					continue
				}
				for _, f := range strings.Fields(m[2]) {
					if !strings.HasPrefix(f, "-") {
						continue
					}
					checked++
					name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
					if !known[name] {
						t.Errorf("%s: %s gives %s flag -%s, which it does not have", page, span, m[1], name)
					}
				}
			}
		}
	}
	assert.Greater(t, checked, 50, "too few names found: are the patterns broken?")
}
