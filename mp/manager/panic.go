package manager

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/mpgo/mp/mp"
)

// A task's Do runs on a goroutine of the manager's, far from the code that
// submitted it: a panic there would end the program, with every other task
// and worker, for one task's bug. The manager recovers it, as net/http
// recovers a handler's, and ends the task with a *PanicError that carries
// the value and the stack; the worker, whose process is not at fault, goes
// back to the pool. The program's own callbacks (Done, OnMessage, OnReady,
// OnExit, Watch functions) run on the loop and are not recovered: a panic
// there ends the program, since the state they share with the program is
// no longer known to be sound. (x/sync/errgroup leaves a panic in its Go
// functions alone too: propagating it to Wait was tried and reverted in
// v0.16.0, golang/go#53757; sourcegraph/conc re-panics in Wait.)

// do runs r's Do on worker w's process p, and sends the evTaskDone event
// with its error, or a *PanicError if it panicked or called
// runtime.Goexit (t.FailNow in a test's Do does): a Goexit is no panic,
// recover sees nothing, and the goroutine ends after its deferred calls,
// so the event is sent from one of them, or the task would never end.
func (m *Manager) do(ctx context.Context, r *running, w *Worker, p *mp.Process) {
	var err error
	returned := false
	defer func() {
		v := recover()
		if v == nil && !returned {
			v = goexit
		}
		if v != nil {
			pe := &PanicError{Task: r.task.Name, Worker: w.name, Pid: p.Pid(), Value: v, Site: panicSite(), Stack: debug.Stack()}
			m.log.Error(pe.Error())
			m.log.Debug(fmt.Sprintf("stack of the panic of task %q:\n%s", r.task.Name, pe.Stack))
			err = pe
		}
		m.send(event{kind: evTaskDone, task: r, err: err})
	}()
	err = r.task.Do(ctx, w, p)
	returned = true
}

// goexit is the value of the *PanicError of a Do that called
// runtime.Goexit.
const goexit = "runtime.Goexit called"

// panicSite names the frame that panicked, as "function (file.go:line)":
// the first frame below runtime.gopanic (or runtime.Goexit) that is not
// the runtime's own (a nil dereference panics through runtime.sigpanic).
// Called from the deferred function that recovered.
func panicSite() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	inPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic" || f.Function == "runtime.Goexit":
			inPanic = true
		case inPanic && !strings.HasPrefix(f.Function, "runtime."):
			return fmt.Sprintf("%s (%s:%d)", f.Function, filepath.Base(f.File), f.Line)
		}
		if !more {
			return "an unknown place"
		}
	}
}
