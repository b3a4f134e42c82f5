package mp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpgo/mp/internal/mplog"
)

// Backend is the child's side of a process: what handlers and hooks use to
// log, to send messages to the frontend, to reply to calls and to set events.
// A Backend exists only in the child; the frontend has a *Process instead.
type Backend struct {
	kind, name string
	log        *slog.Logger
	ctx        context.Context // cancelled on SIGTERM
	conn       *backConn       // the transport (conn_back.go)
	events     *eventSlots     // nil without Options.Events
	files      []*os.File
	params     Params

	current  atomic.Uint64 // id of the call being handled, 0 for a Send
	replyMu  sync.Mutex    // a call's reply is written once: by Reply, or when its handler returns
	replied  bool          // whether the current call was answered; with replyMu
	stopping atomic.Bool   // set by Stop
	endOnce  sync.Once     // the end is announced once (ending.go)

	runCtx context.Context // b.ctx without its cancellation: the parent of handlers' contexts (dispatch)

	mu        sync.Mutex
	cancelRun context.CancelFunc  // cancels the running handler's ctx
	started   uint64              // id of the last call handed to a handler
	cancelled map[uint64]struct{} // calls given up on before they started
}

func runBackend(l *launch) int {
	takeDescriptors(l.events, l.files)
	be := &Backend{
		kind: l.kind, name: l.name,
		log: mplog.New(l.kind+"."+l.name, mplog.Back),
		conn: newBackConn(commandPipe(), os.NewFile(fdMessages, "mp-messages"),
			os.NewFile(fdCredits, "mp-credits"), os.NewFile(fdCancels, "mp-cancels"), l.window),
		cancelled: map[uint64]struct{}{},
	}
	// A message whose Send gave up half way goes on in the background
	// (see frameWriter.write), and messages sent in a burst wait to be
	// gathered (gather.go): exiting now would lose them. The wait is
	// bounded: the frontend reads its pipe until it ends, or is gone.
	defer be.conn.flushForExit(time.Second)
	fd := fdFirst
	if l.events > 0 {
		fd += l.events + 1 // the doorbells, then their page
	}
	for i := range l.files {
		fd := fd + i
		be.files = append(be.files, os.NewFile(uintptr(fd), "mp-file-"+strconv.Itoa(i)))
	}
	defer be.handleSignals(l.grace)()
	if l.events > 0 {
		s, err := backendEventSlots(be, fdFirst, l.events)
		if err != nil {
			return be.fatal(CodeFatal, "", err)
		}
		be.events = s
	}
	if code, ok := be.readStart(); !ok {
		return code
	}
	r, ok := registry.get(l.kind)
	if !ok {
		return be.fatal(CodeFatal, "", fmt.Errorf("%w %q (is its NewKind declared at package level?)", ErrUnknownKind, l.kind))
	}
	return r.run(be)
}

// takeDescriptors prepares the descriptors the frontend passed.
func takeDescriptors(nEvents, nFiles int) {
	// Whatever this backend starts must not inherit our ends of the pipes,
	// or the frontend's EOF and death detection would break.
	last := fdFirst + nFiles
	if nEvents > 0 {
		last += nEvents + 1 // the doorbells, then their page
	}
	for fd := fdCommands; fd < last; fd++ {
		unix.CloseOnExec(fd)
	}
	// os/exec hands the pipes over in blocking mode; make them non-blocking
	// so that reads go through the runtime poller and can be interrupted.
	for _, fd := range []int{fdMessages, fdCredits, fdCancels} {
		unix.SetNonblock(fd, true)
	}
}

// flushAtExit bounds the writing of the messages a backend sent before it
// exits at the end of its grace after SIGTERM: a frontend that reads takes
// them at once.
const flushAtExit = 100 * time.Millisecond

// handleSignals sets the backend's context and what signals do; the
// returned function releases them.
func (b *Backend) handleSignals(grace time.Duration) (release func()) {
	// Only the frontend decides when backends stop. Ctrl-C in a terminal
	// does not reach a backend (it leads a process group of its own); a
	// SIGINT sent to it anyway is handled and dropped, not ignored: an
	// ignored signal stays ignored across exec, and the programs a handler
	// starts must still stop on Ctrl-C.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT)
	// SIGTERM (the stop ladder's second rung, and the parent-death signal
	// when the frontend dies) cancels the backend's context: the loop ends
	// after the running handler and PostRun runs. A handler that ignores
	// its context gets a grace period, then the process exits regardless.
	//
	// The returned release ends the context but keeps SIGTERM caught
	// (signal.NotifyContext's stop would give it back its default action):
	// the loop has ended then, and the process is on its way to a clean
	// exit, which a SIGTERM must not turn into a death by signal. (The
	// manager sends one just after it closes the command pipe of a worker
	// whose task timed out: under load it could land after the release
	// and the exit read "signal: terminated" instead of "exit status 0".)
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-terms
		cancel()
	}()
	context.AfterFunc(ctx, func() {
		b.announceEnd(EndTerminated)
		time.AfterFunc(grace, func() {
			b.log.Error(fmt.Sprintf("still busy %v after SIGTERM: exiting without finishing the handler or running post-run", grace))
			b.conn.flushForExit(flushAtExit)
			exitBackend(exitGrace)
		})
	})
	b.ctx = ctx
	return cancel
}

// readStart reads the start parameters, the first frame of the command
// pipe. It reports false, with the exit code, if there are none.
func (b *Backend) readStart() (int, bool) {
	if err := b.conn.openCommands(b.log, b.cancel); err != nil {
		return b.fatal(CodeFatal, "", fmt.Errorf("command pipe: %w", err)), false
	}
	init, err := b.conn.read()
	if err == nil && init.kind != kindInit {
		err = fmt.Errorf("first frame is not a start frame: %w", ErrBadFrame)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return exitOK, false // the frontend went away before we started
		}
		return b.fatal(CodeBadFrame, "", fmt.Errorf("reading start parameters: %w", err)), false
	}
	b.params = init.params
	b.log.Debug("state running", "pid", os.Getpid())
	return 0, true
}

// Name returns the process name given to Start, e.g. "my-process".
func (b *Backend) Name() string { return b.name }

// Kind returns the name of the process's kind, e.g. "MyProcess".
func (b *Backend) Kind() string { return b.kind }

// Log returns the backend's logger; its lines are marked "[back]".
func (b *Backend) Log() *slog.Logger { return b.log }

// Context returns the backend's context, cancelled when the backend is asked
// to terminate (SIGTERM, the stop ladder's second rung). A handler's ctx
// argument carries its values and is cancelled when it is, and also when
// the caller of that call gives up: a long handler should return when its
// ctx ends. Its reply still reaches the frontend (see Reply).
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
// gone. Unlike Process.Send, a ctx that has already ended does not stop a
// message that can go out without waiting: ctx bounds only the wait, so a
// handler whose ctx SIGTERM ended can still report before it returns.
//
// A message sent within microseconds of a write may wait a moment (about
// 20 µs) to go out in one write with the messages after it, as Send has
// returned nil. It is delivered as long as the backend ends through the
// library: a handler that returns (with an error too, or a panic), Stop,
// the end of the loop and of PostRun, or the end of the grace after
// SIGTERM each write the waiting messages first, and a Send that comes
// after that waits for the exit instead of returning nil. An exit the
// library cannot see loses them: os.Exit, log.Fatal, a panic in a goroutine
// of the backend's own, a kill. To end a backend on an error, return the
// error from the handler, or call Stop and return. (Python's
// multiprocessing.Queue promises the same: a process that put items on a
// queue waits at its normal exit until its feeder thread has written them
// to the pipe, and os._exit, or Queue.cancel_join_thread, loses them.)
func (b *Backend) Send(ctx context.Context, command string, params Params) error {
	if err := b.conn.send(ctx, &frame{kind: kindMessage, command: command, params: params}); err != nil {
		return opError(fmt.Sprintf("send %q", command), b.name, err)
	}
	return nil
}

// Reply answers req, which must have been sent with Process.Call; the
// frontend's Call returns a Message with command and params. A call whose
// handler returns without replying is answered with an empty message
// automatically, so handlers reply only when they have something to say.
// Replying to a message that is not a call is an error. Reply must be called
// once, before the handler returns: a second reply, or one after the
// handler returned (from a goroutine it left behind), is not sent and
// fails with ErrLateReply (the caller already has its answer).
//
// ctx bounds the wait for room in the pipe. A ctx that has already ended
// (typically the handler's, after SIGTERM) still allows a short bounded
// attempt, because the frontend's Call is waiting for this reply.
func (b *Backend) Reply(ctx context.Context, req Message, command string, params Params) error {
	if !req.IsCall() {
		return opError(fmt.Sprintf("reply to %q", req.Command), b.name, errors.New("it was sent with Send, not Call"))
	}
	// A call is answered once: by this Reply, or by dispatch when the
	// handler returns (see dispatch), whichever comes first.
	b.replyMu.Lock()
	defer b.replyMu.Unlock()
	if req.id != b.current.Load() || b.replied {
		return opError(fmt.Sprintf("reply %q to %q", command, req.Command), b.name, ErrLateReply)
	}
	b.beforeReply()
	ctx, cancel := lastChance(ctx)
	defer cancel()
	if err := b.conn.write(ctx, &frame{kind: kindReply, id: req.id, command: command, params: params}); err != nil {
		// Unless part of it went out (the rest follows), nothing did
		// (too large, not encodable, no room in time): the handler's
		// error, or the automatic reply, answers the call instead.
		b.replied = errors.Is(err, errRestFollows)
		return opError(fmt.Sprintf("reply %q", command), b.name, err)
	}
	b.replied = true
	return nil
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
