package mp

import (
	"fmt"
	"syscall"
)

// Exit statuses of a backend. The library's own are 3 to 7, apart from the
// statuses Go programs end with on their own: 1 (os.Exit(1), log.Fatal) and
// 2 (the Go runtime: an unrecovered panic outside a handler, or a fatal
// error such as running out of memory).
const (
	exitOK       = 0
	exitBadFrame = 3 // the command pipe carried something that is not a frame
	exitGrace    = 4 // still busy a grace period after SIGTERM (see Options.StopTimeout)
	// exitNoInit (5): main did not call Init; see requireInit.
	exitFatal = 6 // pre-run failed, the kind is unknown, or the backend could not read its commands
	exitPanic = 7 // a handler (or a hook) panicked; the panic was reported to the frontend
)

// exitMeanings are what DescribeExit adds to an exit status, and, for the
// library's own statuses, what the backend must have said for the status
// to be the library's: a program's own os.Exit(3) is not bad data on its
// command pipe.
var exitMeanings = map[int]struct {
	why  string
	told func(*Process) bool // nil: whatever the backend said
}{
	1:            {why: "the program exited with status 1 (os.Exit, log.Fatal)"},
	2:            {why: "the Go runtime stopped it: a fatal error such as running out of memory, or a panic no handler recovered"},
	exitBadFrame: {"mp: its command pipe carried something that is not a frame", (*Process).reportedFatal},
	exitGrace:    {"mp: still busy a grace period after SIGTERM", (*Process).toldToStop},
	exitNoInit:   {"mp: main does not call mp.Init", func(*Process) bool { return false }}, // never a started Process's
	exitFatal:    {"mp: a fatal error, reported to the frontend (pre-run failed, say)", (*Process).reportedFatal},
	exitPanic:    {"mp: a handler panicked", (*Process).reportedFatal},
}

// DescribeExit says in words how the backend's process ended: "exit status
// 0", "signal: killed", or a status with its meaning, e.g. "exit status 7
// (mp: a handler panicked)" or "exit status 2 (the Go runtime stopped it:
// …)". One of the library's own statuses (3 to 7) gets the library's
// meaning only if the backend said what the status says before it exited
// (the fatal error it reported, or the SIGTERM or stop it was told of);
// otherwise its own code exited with it, and DescribeExit says so. It
// returns "still running" until the process has been reaped.
func (p *Process) DescribeExit() string {
	ps := p.ProcessState()
	if ps == nil {
		return "still running"
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok || !ws.Exited() {
		return ps.String()
	}
	m, ok := exitMeanings[ws.ExitStatus()]
	switch {
	case !ok:
		return ps.String()
	case m.told == nil || m.told(p):
		return fmt.Sprintf("%s (%s)", ps.String(), m.why)
	}
	return fmt.Sprintf("%s (the backend's own code exited: os.Exit, say; the library reported nothing)", ps.String())
}

// reportedFatal reports whether the backend reported a fatal error (a
// kindFatal frame), whatever EndReason says.
func (p *Process) reportedFatal() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.remote.(*RemoteError)
	return ok
}

// toldToStop reports whether the backend was asked to stop or received
// SIGTERM before it exited.
func (p *Process) toldToStop() bool {
	r := p.EndReason()
	return r == EndRequested || r == EndTerminated
}
