package manager

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// progressMin is the number of workers from which a start is long enough to
// deserve a progress line.
const progressMin = 20

// progress draws "workers ready: n/total" on one terminal line while many
// workers start, at most ten times a second. It draws nothing when its
// writer is not a terminal (a pipe, a file, a test), so logs stay clean.
type progress struct {
	w        io.Writer
	n, total int
	last     time.Time
	done     bool
}

func newProgress(w io.Writer, total int) *progress {
	f, ok := w.(*os.File)
	if !ok || total < progressMin || !term.IsTerminal(int(f.Fd())) {
		return &progress{done: true}
	}
	return &progress{w: w, total: total}
}

func (p *progress) ready() {
	if p.done {
		return
	}
	p.n++
	if p.n == p.total {
		p.finish()
		return
	}
	if time.Since(p.last) >= 100*time.Millisecond {
		p.last = time.Now()
		fmt.Fprintf(p.w, "\rworkers ready: %d/%d", p.n, p.total)
	}
}

// finish ends the line.
func (p *progress) finish() {
	if p.done {
		return
	}
	p.done = true
	fmt.Fprintf(p.w, "\rworkers ready: %d/%d\n", p.n, p.total)
}
