package sizecheck

import (
	"fmt"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// body returns a function body of n lines, braces included.
func body(n int) string {
	return "{\n" + strings.Repeat("\t_ = 0\n", n-2) + "}"
}

// Fault: a function written as a literal inside a top-level declaration's
// value, not as the value itself (a kind's constructor passed to NewKind, a
// handler in a map, a field of a struct literal), was not measured at all:
// 200 lines of it passed TestSizes. Every literal outside a function is
// measured now, named after its variable.
func TestFuncSizesSeesEveryLiteral(t *testing.T) {
	src := fmt.Sprintf(`package p

func f() %s

var direct = func() %s

var viaCall = register("x", func() %s)

var inMap = map[string]func(){
	"a": func() %s,
	"b": func() %s,
}

var inStruct = struct{ f func() }{f: func() %s}

func register(string, func()) int { return 0 }
`, body(3), body(4), body(100), body(90), body(5), body(120))
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	require.NoError(t, err)
	sizes := funcSizes(fset, f)
	assert.Equal(t, 3, sizes["f"])
	assert.Equal(t, 4, sizes["direct"])
	assert.Equal(t, 100, sizes["viaCall"], "a literal passed to a call")
	assert.Equal(t, 90, sizes["inMap"], "the longest literal of a map")
	assert.Equal(t, 120, sizes["inStruct"], "a literal in a struct literal")
}
