package proctest

import (
	"runtime"
	"strings"
)

// GoroutinesIn counts the goroutines of this process whose stacks hold all
// of fns: function names (one calling the next, as a stack shows them) or
// a state as runtime.Stack prints it ("[chan receive", "[IO wait"). It is
// how a test tells that a goroutine has reached a wait that nothing else
// reports.
func GoroutinesIn(fns ...string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		all := true
		for _, fn := range fns {
			all = all && strings.Contains(g, fn)
		}
		if all {
			count++
		}
	}
	return count
}
