package sizecheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	maxFileLines = 400
	maxFuncLines = 80 // from the func keyword to the closing brace
)

// allowed lists what may stay over the sizes, each with its reason: a file
// by its path from the module's root, a function as path:Name (a method as
// path:Type.Name). An entry no longer needed fails the test too, so that
// the list only shrinks.
var allowed = map[string]string{
	// A chapter's main flow is read top to bottom on its page, where the
	// generator shows it region by region: split, the story scatters.
	"part2/main1/main.go:run":       "a chapter's main flow, narrated region by region in docs/part2.md",
	"part2/main1/scale.go:runScale": "a chapter's scale run, narrated in docs/part2.md",
	"part3/extrafd/main.go:run":     "a chapter's main flow, narrated region by region in docs/part3.md",
	"part3/webview/main.go:run":     "a chapter's main flow, narrated region by region in docs/part3.md",
}

// TestSizes fails on a Go file over maxFileLines lines or a function over
// maxFuncLines, anywhere in the module (testdata, hidden directories and
// generated files aside), unless allowed lists it.
func TestSizes(t *testing.T) {
	root := moduleRoot(t)
	var over []string
	used := map[string]bool{}
	check := func(key string, lines, limit int) {
		if lines <= limit {
			return
		}
		if _, ok := allowed[key]; ok {
			used[key] = true
			return
		}
		over = append(over, fmt.Sprintf("%s: %d lines (at most %d)", key, lines, limit))
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		check(rel, fset.File(f.Pos()).LineCount(), maxFileLines)
		for name, lines := range funcSizes(fset, f) {
			check(rel+":"+name, lines, maxFuncLines)
		}
		return nil
	})
	require.NoError(t, err)
	slices.Sort(over)
	assert.Empty(t, over, "split these by idea (or, if one truly must stay, add it to allowed with its reason)")
	var stale []string
	for key := range allowed {
		if !used[key] {
			stale = append(stale, key)
		}
	}
	slices.Sort(stale)
	assert.Empty(t, stale, "within the sizes now, or gone: remove them from allowed")
}

// funcSizes returns the length in lines of each function of f: functions
// and methods (as Type.Name), and the function literals of top-level
// declarations, wherever they sit in the value (the value itself, an
// argument of a call, an element of a composite literal), as the variable's
// name: the longest, if there are several.
func funcSizes(fset *token.FileSet, f *ast.File) map[string]int {
	lines := func(n ast.Node) int { return fset.Position(n.End()).Line - fset.Position(n.Pos()).Line + 1 }
	sizes := map[string]int{}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			name := d.Name.Name
			if d.Recv != nil && len(d.Recv.List) > 0 {
				name = recvType(d.Recv.List[0].Type) + "." + name
			}
			sizes[name] = max(sizes[name], lines(d)) // several init functions: the longest
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok || len(vs.Names) == 0 {
					continue
				}
				for i, v := range vs.Values {
					name := vs.Names[min(i, len(vs.Names)-1)].Name // var a, b = f(): a
					ast.Inspect(v, func(n ast.Node) bool {
						fl, ok := n.(*ast.FuncLit)
						if ok {
							sizes[name] = max(sizes[name], lines(fl))
						}
						return !ok // a literal within a literal is part of it
					})
				}
			}
		}
	}
	return sizes
}

// recvType names a method's receiver type: T for T, *T, T[P] and *T[P].
func recvType(x ast.Expr) string {
	for {
		switch e := x.(type) {
		case *ast.StarExpr:
			x = e.X
		case *ast.IndexExpr:
			x = e.X
		case *ast.IndexListExpr:
			x = e.X
		case *ast.Ident:
			return e.Name
		default:
			return fmt.Sprintf("%T", x)
		}
	}
}

// moduleRoot returns the directory of the module's go.mod, above this one.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test's directory")
		dir = parent
	}
}
