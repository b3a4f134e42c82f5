// Package initcheck knows whether this process was started as a backend and
// whether mp.Init has run yet. A backend is the program started again; if
// its main (or, in a test binary, its TestMain) forgot to call mp.Init
// first, main runs in the child as if it were the frontend. Every package of
// the module that would leave something behind in that case (mp, before it
// starts a process; mp/shm, before it creates a named segment) calls Require
// first, which stops such a child before it does.
package initcheck

import (
	"flag"
	"fmt"
	"os"
	"sync/atomic"
)

// ExitNoInit is the exit status of a backend whose main did not call
// mp.Init first.
const ExitNoInit = 5

var (
	kind       atomic.Pointer[string] // set if this process was started as a backend
	initCalled atomic.Bool
)

// StartedAs records that this process was started as a backend of kind k.
func StartedAs(k string) { kind.Store(&k) }

// InitCalled records that mp.Init has run.
func InitCalled() { initCalled.Store(true) }

// Require exits with ExitNoInit, and a message saying what to add where, if
// this process was started as a backend and mp.Init has not run: the
// program would otherwise go on as a frontend inside the child.
func Require() {
	k := kind.Load()
	if k == nil || initCalled.Load() {
		return
	}
	if InTest() {
		fmt.Fprintf(os.Stderr, "mp: this process was started as a backend (kind %q) by a test, but the test binary did not call mp.Init first: %s\n", *k, Hint())
	} else {
		fmt.Fprintf(os.Stderr, "mp: this process was started as a backend (kind %q), but main did not call mp.Init first: %s\n", *k, Hint())
	}
	os.Exit(ExitNoInit)
}

// InTest reports whether this process is a test binary running its tests:
// go test's binary registers the test.v flag before TestMain, and parses
// the command line when the tests start (a TestMain that plays a program
// before m.Run is a program).
func InTest() bool { return flag.Lookup("test.v") != nil && flag.Parsed() }

// Hint says how to fix a missing mp.Init, in a program or in a test binary.
func Hint() string {
	if InTest() {
		return "add func TestMain(m *testing.M) { mp.Init(); os.Exit(m.Run()) } to the package's tests"
	}
	return "add mp.Init() as the first line of main"
}
