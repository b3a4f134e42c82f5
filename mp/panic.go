package mp

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// panicError is what protect makes of a panic: its value, and where.
type panicError struct {
	value any
	site  string
}

func (e *panicError) Error() string { return fmt.Sprintf("%v, at %s", e.value, e.site) }

// protected names what protect runs, for the debug log: "pre-run", or
// `handler "echo"` (what and a quoted name). It is formatted only if f
// panics, not for every command.
type protected struct{ what, name string }

func (p protected) String() string {
	if p.name == "" {
		return p.what
	}
	return fmt.Sprintf("%s %q", p.what, p.name)
}

// protect runs f, turning a panic into an error that carries the panic value
// and names the function, file and line where it panicked; the whole stack
// goes to the debug log.
func (b *Backend) protect(what protected, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = b.recovered(what, v)
		}
	}()
	return f()
}

// recovered makes the error of protect from v, the value a deferred
// function recovered, and logs the stack. Called from that function.
func (b *Backend) recovered(what protected, v any) error {
	site := panicSite()
	b.log.Debug(fmt.Sprintf("%s panicked at %s; stack:\n%s", what, site, debug.Stack()))
	return &panicError{value: v, site: site}
}

// panicSite names the frame that panicked, as "function (file.go:line)": the
// first frame below runtime.gopanic that is not the runtime's own (a nil
// dereference panics through runtime.sigpanic, say). Called from the
// deferred function that recovered.
func panicSite() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	inPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			inPanic = true
		case inPanic && !strings.HasPrefix(f.Function, "runtime."):
			return fmt.Sprintf("%s (%s:%d)", f.Function, filepath.Base(f.File), f.Line)
		}
		if !more {
			return "an unknown place"
		}
	}
}

// fatal reports err to the frontend and the log, and returns the exit code
// that goes with code.
func (b *Backend) fatal(code ErrorCode, command string, err error) int {
	msg := causeText(err, b.name)
	re := &RemoteError{Process: b.name, Command: command, Code: code, Msg: msg}
	b.log.Error(re.Error())
	// The frontend may be gone or stuck; do not wait long to tell it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	b.conn.write(ctx, &frame{kind: kindFatal, code: code, command: command, errText: msg})
	switch code {
	case CodePanic:
		return exitPanic
	case CodeBadFrame, CodeFrameTooLarge:
		return exitBadFrame
	}
	return exitFatal
}

// postRun runs the PostRun hook of state b, if it has one.
func (b *Backend) postRun(state any) {
	pr, ok := state.(PostRunner)
	if !ok {
		return
	}
	b.log.Debug("post-run")
	if err := b.protect(protected{what: "post-run"}, pr.PostRun); err != nil {
		b.log.Error(fmt.Sprintf("post-run: %v", err))
	}
}
