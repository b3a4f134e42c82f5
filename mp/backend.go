package mp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// File descriptors of a backend: the command and message pipes, the
// credits, the cancel pipe, then the event group, then the caller's extra
// files.
const (
	fdCommands = 3 // frontend → backend frames; EOF means "stop"
	fdMessages = 4 // backend → frontend frames
	fdCredits  = 5 // eventfd: messages the backend may send (credits.go)
	fdCancels  = 6 // frontend → backend cancel frames, beside the commands
	fdFirst    = 7 // first event, then Options.Files
)

// Backend is the child's side of a process: what handlers and hooks use to
// log, to send messages to the frontend, to reply to calls and to set events.
// A Backend exists only in the child; the frontend has a *Process instead.
type Backend struct {
	kind, name string
	log        *slog.Logger
	ctx        context.Context // cancelled on SIGTERM
	cmds       *os.File
	out        *frameWriter
	events     []int // eventfd numbers, by index
	files      []*os.File
	params     Params
	cmdReader  *frameReader
	credits    *credits // messages Send may still send; see credits.go

	current  atomic.Uint64 // id of the call being handled, 0 for a Send
	replied  atomic.Bool   // whether the current call was replied to
	stopping atomic.Bool   // set by Stop
	endOnce  sync.Once     // the end is announced once (ending.go)

	mu        sync.Mutex
	cancelRun context.CancelFunc  // cancels the running handler's ctx
	started   uint64              // id of the last call handed to a handler
	cancelled map[uint64]struct{} // calls given up on before they started
}

func runBackend(l *launch) int {
	kind, name, nEvents, nFiles := l.kind, l.name, l.events, l.files
	// Whatever this backend starts must not inherit our ends of the pipes,
	// or the frontend's EOF and death detection would break.
	for fd := fdCommands; fd < fdFirst+nEvents+nFiles; fd++ {
		unix.CloseOnExec(fd)
	}
	// os/exec hands the pipes over in blocking mode; make them non-blocking
	// so that reads go through the runtime poller and can be interrupted.
	unix.SetNonblock(fdCommands, true)
	unix.SetNonblock(fdMessages, true)
	unix.SetNonblock(fdCredits, true)
	unix.SetNonblock(fdCancels, true)

	be := &Backend{
		kind: kind, name: name,
		log:       NewLogger(kind+"."+name, Back),
		cmds:      os.NewFile(fdCommands, "mp-commands"),
		out:       newFrameWriter(os.NewFile(fdMessages, "mp-messages")),
		credits:   newCredits(l.window, os.NewFile(fdCredits, "mp-credits")),
		cancelled: map[uint64]struct{}{},
	}
	be.out.gatherMessages()
	be.credits.beforeWait = be.out.writeGathered
	defer func() {
		// A message whose Send gave up half way goes on in the background
		// (see frameWriter.write): exiting now would cut it. The wait is
		// bounded: the frontend reads its pipe until it ends, or is gone.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		be.out.flush(ctx)
	}()
	for i := range nEvents {
		be.events = append(be.events, fdFirst+i)
	}
	for i := range nFiles {
		fd := fdFirst + nEvents + i
		be.files = append(be.files, os.NewFile(uintptr(fd), "mp-file-"+strconv.Itoa(i)))
	}
	// Only the frontend decides when backends stop: Ctrl-C in a terminal
	// reaches the whole process group, and backends leave it to the
	// frontend. The signal is handled and dropped, not ignored: an ignored
	// signal stays ignored across exec, and the programs a handler starts
	// must still stop on Ctrl-C.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT)
	// SIGTERM (the stop ladder's second rung, and the parent-death signal
	// when the frontend dies) cancels the backend's context: the loop ends
	// after the running handler and PostRun runs. A handler that ignores
	// its context gets a grace period, then the process exits regardless.
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	context.AfterFunc(ctx, func() {
		be.announceEnd(EndTerminated)
		time.AfterFunc(l.grace, func() {
			be.log.Error(fmt.Sprintf("still busy %v after SIGTERM: exiting without finishing the handler or running post-run", l.grace))
			exitBackend(exitGrace)
		})
	})
	be.ctx = ctx

	var src io.Reader = be.cmds
	if sr, err := newSpinReader(be.cmds); err == nil {
		src = sr
	}
	rd := newFrameReader(src, MaxFrameSize)
	init, err := rd.read()
	if err == nil && init.kind != kindInit {
		err = fmt.Errorf("first frame is not a start frame: %w", ErrBadFrame)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return exitOK // the frontend went away before we started
		}
		return be.fatal(CodeBadFrame, "", fmt.Errorf("reading start parameters: %w", err))
	}
	be.params = init.params
	be.cmdReader = rd
	be.log.Debug("state running", "pid", os.Getpid())

	r, ok := registry.get(kind)
	if !ok {
		return be.fatal(CodeFatal, "", fmt.Errorf("%w %q (is its NewKind declared at package level?)", ErrUnknownKind, kind))
	}
	return r.run(be)
}

// Name returns the process name given to Start, e.g. "my-process".
func (b *Backend) Name() string { return b.name }

// Kind returns the name of the process's kind, e.g. "MyProcess".
func (b *Backend) Kind() string { return b.kind }

// Log returns the backend's logger; its lines are marked "[back]".
func (b *Backend) Log() *slog.Logger { return b.log }

// Context returns the backend's context, cancelled when the backend is asked
// to terminate (SIGTERM, the stop ladder's second rung). Handlers receive it
// as their ctx argument: a long handler should return when it ends. Its
// reply still reaches the frontend (see Reply).
func (b *Backend) Context() context.Context { return b.ctx }

// Params returns the parameters given in Options.Params at Start.
func (b *Backend) Params() Params { return b.params }

// File returns the i-th file of Options.Files, or nil if there is no such file.
func (b *Backend) File(i int) *os.File {
	if i < 0 || i >= len(b.files) {
		return nil
	}
	return b.files[i]
}

// Send sends a message to the frontend, where it arrives on
// Process.Messages. It blocks while the frontend holds four times
// Options.MessageBuffer unread messages beyond the channel's buffer, until
// ctx ends; a frontend that is stopping the process drops what it cannot
// deliver instead, so Send goes on. In a pre-run hook, where the frontend
// cannot read before Start returns, Send does not wait: past that many
// unread messages it fails with ErrQueueFull. It also fails with ErrParam
// if a parameter cannot be encoded, ErrFrameTooLarge if the message is too
// large, and with the operating system's error (EPIPE) if the frontend is
// gone.
func (b *Backend) Send(ctx context.Context, command string, params Params) error {
	if err := b.credits.take(ctx); err != nil {
		return fmt.Errorf("mp: %s send %q: %w", b.name, command, err)
	}
	if err := b.out.write(ctx, &frame{kind: kindMessage, command: command, params: params}); err != nil {
		return fmt.Errorf("mp: %s send %q: %w", b.name, command, inner{err})
	}
	return nil
}

// Reply answers req, which must have been sent with Process.Call; the
// frontend's Call returns a Message with command and params. A call whose
// handler returns without replying is answered with an empty message
// automatically, so handlers reply only when they have something to say.
// Replying to a message that is not a call is an error. Reply must be called
// before the handler returns.
//
// ctx bounds the wait for room in the pipe. A ctx that has already ended
// (typically the handler's, after SIGTERM) still allows a short bounded
// attempt, because the frontend's Call is waiting for this reply.
func (b *Backend) Reply(ctx context.Context, req Message, command string, params Params) error {
	if !req.IsCall() {
		return fmt.Errorf("mp: %s: reply to %q, which was sent with Send, not Call", b.name, req.Command)
	}
	if req.id == b.current.Load() {
		b.replied.Store(true)
	}
	b.beforeReply()
	ctx, cancel := lastChance(ctx)
	defer cancel()
	if err := b.out.write(ctx, &frame{kind: kindReply, id: req.id, command: command, params: params}); err != nil {
		return fmt.Errorf("mp: %s reply %q: %w", b.name, command, inner{err})
	}
	return nil
}

// SetEvent sets event i of the group the frontend created with
// Options.Events, waking the frontend's EventGroup.Wait on it. An index
// outside the group is an error wrapping ErrEventIndex (the usual cause is a
// frontend that sent a wrong index).
func (b *Backend) SetEvent(i int) error {
	if i < 0 || i >= len(b.events) {
		return fmt.Errorf("mp: %s: set event %d of a group of %d: %w", b.name, i, len(b.events), ErrEventIndex)
	}
	one := [8]byte{1}
	for {
		_, err := unix.Write(b.events[i], one[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("mp: %s: set event %d: %w", b.name, i, inner{err})
		}
		return nil
	}
}

// lastChance returns ctx, or, if ctx has ended, a context that allows one
// more second: for the writes that must reach a frontend waiting for them.
func lastChance(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), time.Second)
}

// Stop ends the backend's loop once the running handler returns; PostRun
// then runs and the process exits with status 0. The frontend sees the
// process exit; its Messages channel closes. Stop may be called from a
// handler or from any other goroutine of the backend.
func (b *Backend) Stop() {
	if b.stopping.CompareAndSwap(false, true) {
		b.announceEnd(EndSelf)
		b.interruptRead() // wake the loop if it is waiting for a command
	}
}

// beforeReply announces the backend's end before a reply, if it is ending:
// the frontend then knows, when the reply reaches its caller, that this
// process will not take the next call.
func (b *Backend) beforeReply() {
	switch {
	case b.stopping.Load():
		b.announceEnd(EndSelf)
	case b.ctx.Err() != nil:
		b.announceEnd(EndTerminated)
	}
}

// handlers are a kind's handlers, bound to the backend's state.
type handlers map[string]func(context.Context, Message) error

// serve is the backend's loop: read a command, run its handler, repeat,
// until the frontend closes the command pipe (or dies), SIGTERM arrives, or
// a handler calls Stop. The loop reads the command pipe itself, so a command
// is handled on the goroutine that read it: handing it to another goroutine
// would wake a second thread for every command, which costs more than the
// pipe (docs/benchmarks.md). Cancellations come on a pipe of their own, read
// by a goroutine of their own (readCancels), so they reach a running handler.
func (b *Backend) serve(hs handlers, commands []string) int {
	// From now on Send needs credits, until the command pipe ends.
	b.credits.prerun.Store(false)
	go b.readCancels(os.NewFile(fdCancels, "mp-cancels"))
	// SIGTERM and Stop interrupt a read in progress (see Stop).
	defer context.AfterFunc(b.ctx, b.interruptRead)()
	for {
		switch {
		case b.ctx.Err() != nil:
			b.log.Debug("terminated: stopping")
			return exitOK
		case b.stopping.Load():
			b.log.Debug("stopped by Stop")
			return exitOK
		}
		fr, err := b.cmdReader.read()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && (b.ctx.Err() != nil || b.stopping.Load()) {
				continue // interrupted: the checks above say why
			}
			b.credits.close()
			return b.commandsEnded(err)
		}
		if fr.kind != kindSend && fr.kind != kindCall {
			return b.fatal(CodeBadFrame, "", fmt.Errorf("unexpected frame kind %d on the command pipe: %w", fr.kind, ErrBadFrame))
		}
		if code, panicked := b.dispatch(fr, hs, commands); panicked {
			return code
		}
	}
}

// interruptRead wakes the loop if it is reading the command pipe, for good:
// the loop is ending.
func (b *Backend) interruptRead() { b.cmds.SetReadDeadline(longAgo) }

// readCancels reads the cancel pipe until it ends (the frontend stops, or
// is gone): each frame cancels one call, at once.
func (b *Backend) readCancels(f *os.File) {
	defer f.Close()
	rd := newFrameReader(f, 1<<10)
	for {
		fr, err := rd.read()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				b.log.Debug("cancel pipe", "err", err)
			}
			return
		}
		if fr.kind == kindCancel {
			b.cancel(fr.id)
		}
	}
}

// cancel cancels call id: its handler's ctx if it runs, or the call itself
// if it has not started (calls come in the order of their ids, see
// Process.Call, so a call that ended is simply ignored).
func (b *Backend) cancel(id uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case id == b.current.Load() && b.cancelRun != nil:
		b.log.Debug("call cancelled by its caller", "id", id)
		b.cancelRun()
	case id > b.started:
		b.cancelled[id] = struct{}{}
	}
}

// commandsEnded says why the command pipe ended (err is the read's error),
// and the exit code for it.
func (b *Backend) commandsEnded(err error) int {
	switch {
	case errors.Is(err, io.EOF):
		b.log.Debug("command pipe closed: stopping")
		return exitOK
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The frontend closed the pipe half way through a frame: it was
		// stopped (or died) while a send was going out.
		b.log.Warn("command pipe closed inside a frame: stopping")
		return exitOK
	case errors.Is(err, ErrFrameTooLarge):
		return b.fatal(CodeFrameTooLarge, "", err)
	case errors.Is(err, ErrBadFrame):
		return b.fatal(CodeBadFrame, "", err)
	}
	return b.fatal(CodeFatal, "", fmt.Errorf("reading commands: %w", err))
}

// dispatch runs the handler of one frame and reports its outcome.
func (b *Backend) dispatch(fr frame, hs handlers, commands []string) (int, bool) {
	m := Message{Command: fr.command, Params: fr.params, id: fr.id}
	// Each handler gets its own ctx: the backend's (SIGTERM), cancelled
	// also when the caller of this call gives up.
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	b.mu.Lock()
	_, gaveUp := b.cancelled[fr.id]
	delete(b.cancelled, fr.id)
	if fr.id != 0 {
		b.started = fr.id
	}
	b.current.Store(fr.id)
	b.cancelRun = cancel
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.cancelRun = nil
		b.mu.Unlock()
	}()
	b.replied.Store(false)
	if gaveUp {
		b.log.Debug("call given up by its caller before it started", "command", fr.command, "id", fr.id)
		return 0, false
	}
	// What dispatch writes answers a frontend that waits for it: it goes
	// out even after SIGTERM has cancelled b.ctx (bounded by lastChance).
	write := func(out *frame) {
		b.beforeReply()
		ctx, cancel := lastChance(b.ctx)
		defer cancel()
		if err := b.out.write(ctx, out); err != nil {
			b.log.Debug("could not report to the frontend", "command", fr.command, "err", err)
		}
	}
	h, ok := hs[fr.command]
	if !ok {
		b.log.Warn(fmt.Sprintf("unknown command %q ignored (known: %s)", fr.command, strings.Join(commands, ", ")))
		if m.IsCall() {
			write(&frame{kind: kindReply, id: fr.id, code: CodeUnknownCommand, command: fr.command})
		}
		return 0, false
	}
	panicked, err := b.run(ctx, h, m)
	defer b.out.writeGathered() // what the handler sent goes out now
	switch {
	case panicked:
		return b.fatal(CodePanic, fr.command, err), true
	case err != nil && m.IsCall():
		write(&frame{kind: kindReply, id: fr.id, code: CodeHandler, command: fr.command, errText: inner{err}.Error(), params: sentinelParams(err)})
	case err != nil:
		b.log.Error(fmt.Sprintf("handler %q failed: %v", fr.command, err))
		write(&frame{kind: kindError, code: CodeHandler, command: fr.command, errText: inner{err}.Error(), params: sentinelParams(err)})
	case m.IsCall() && !b.replied.Load():
		write(&frame{kind: kindReply, id: fr.id})
	}
	return 0, false
}

// run runs handler h on m, turning a panic into an error.
func (b *Backend) run(ctx context.Context, h func(context.Context, Message) error, m Message) (panicked bool, err error) {
	err = b.protect(fmt.Sprintf("handler %q", m.Command), func() error { return h(ctx, m) })
	var pe *panicError
	return errors.As(err, &pe), err
}

// panicError is what protect makes of a panic: its value, and where.
type panicError struct {
	value any
	site  string
}

func (e *panicError) Error() string { return fmt.Sprintf("%v, at %s", e.value, e.site) }

// protect runs f, turning a panic into an error that carries the panic value
// and names the function, file and line where it panicked; the whole stack
// goes to the debug log.
func (b *Backend) protect(what string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			site := panicSite()
			b.log.Debug(fmt.Sprintf("%s panicked at %s; stack:\n%s", what, site, debug.Stack()))
			err = &panicError{value: v, site: site}
		}
	}()
	return f()
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
	msg := strings.TrimPrefix(err.Error(), "mp: ")
	re := &RemoteError{Process: b.name, Command: command, Code: code, Msg: msg}
	b.log.Error(re.Error())
	// The frontend may be gone or stuck; do not wait long to tell it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	b.out.write(ctx, &frame{kind: kindFatal, code: code, command: command, errText: msg})
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
	if err := b.protect("post-run", pr.PostRun); err != nil {
		b.log.Error(fmt.Sprintf("post-run: %v", err))
	}
}
