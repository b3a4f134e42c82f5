package mp

import (
	"fmt"
	"os"
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

// exitMeanings are what DescribeExit adds to an exit status.
var exitMeanings = map[int]string{
	1:            "the program exited with status 1 (os.Exit, log.Fatal)",
	2:            "the Go runtime stopped it: a fatal error such as running out of memory, or a panic no handler recovered",
	exitBadFrame: "mp: its command pipe carried something that is not a frame",
	exitGrace:    "mp: still busy a grace period after SIGTERM",
	exitNoInit:   "mp: main does not call mp.Init",
	exitFatal:    "mp: a fatal error, reported to the frontend (pre-run failed, say)",
	exitPanic:    "mp: a handler panicked",
}

// DescribeExit says in words how a backend's process ended, from its
// ProcessState: "exit status 0", "signal: killed", or a status with its
// meaning, e.g. "exit status 7 (mp: a handler panicked)" or "exit status 2
// (the Go runtime stopped it: …)". It returns "still running" for nil.
func DescribeExit(ps *os.ProcessState) string {
	if ps == nil {
		return "still running"
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok || !ws.Exited() {
		return ps.String()
	}
	if why, ok := exitMeanings[ws.ExitStatus()]; ok {
		return fmt.Sprintf("%s (%s)", ps.String(), why)
	}
	return ps.String()
}
