package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// meter prints -scale's figures as each phase ends: one line per phase,
// whatever stdout is. On a terminal it also redraws a progress line while
// a phase runs (starting, fan-in, stopping, the floor), at most ten times a
// second; into a pipe or a file it writes no progress line and no escape.
type meter struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	last  time.Time
	shown bool // a progress line is on the screen
}

// newMeter writes to stdout, drawing progress lines if it is a terminal.
func newMeter() *meter {
	return &meter{w: os.Stdout, tty: term.IsTerminal(int(os.Stdout.Fd()))}
}

// progress redraws the progress line, if the output is a terminal and the
// last one is a tenth of a second old.
func (m *meter) progress(format string, args ...any) {
	if !m.tty {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.last) < 100*time.Millisecond {
		return
	}
	m.last = time.Now()
	m.shown = true
	fmt.Fprintf(m.w, "\r%s\033[K", fmt.Sprintf(format, args...))
}

// line prints one phase's line, in place of the progress line.
func (m *meter) line(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shown {
		fmt.Fprint(m.w, "\r\033[K")
		m.shown = false
	}
	m.last = time.Time{} // the next phase's progress shows at once
	fmt.Fprintf(m.w, format+"\n", args...)
}
