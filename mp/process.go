package mp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure a process at Start.
type Options struct {
	// Name names the process in logs, in ps (argv[0] is "mp:<program>/<Name>")
	// and in errors. It must be non-empty, at most 64 bytes, without '/',
	// spaces or NUL.
	Name string
	// Params are handed to the backend before its pre-run hook (Backend.Params).
	Params Params
	// Events is the size of the process's event group (see EventGroup);
	// zero means no group, and a negative value is an error (wrapping
	// os.ErrInvalid).
	Events int
	// Files are extra files the backend receives (Backend.File), e.g. the
	// memfd of an anonymous shared array or a listener. They stay usable in
	// the frontend: deadlines and Close keep working on them (os/exec would
	// otherwise switch them to blocking mode for good; Start passes
	// duplicates and restores the mode they share).
	Files []*os.File
	// StopTimeout bounds each rung of the stop ladder; zero means 3
	// seconds, and a negative value is an error (wrapping os.ErrInvalid).
	// A backend that gets SIGTERM (from the ladder, or as the parent-death
	// signal when its frontend dies) exits at the latest StopTimeout + 1 s
	// later, even if a handler ignores its context.
	StopTimeout time.Duration
	// Stdout and Stderr receive the backend's standard output and error;
	// nil means the frontend's own os.Stdout and os.Stderr, shared as they
	// are, so that lines of both processes come out in the order written.
	Stdout, Stderr io.Writer
	// Logger receives what the library logs about this process in the
	// frontend (state changes at debug level, warnings of the stop ladder,
	// dropped messages); nil means NewLogger("<kind>.<Name>", Front). The
	// backend logs in its own process, to its standard output (Stdout).
	Logger *slog.Logger
	// Env is added to the backend's environment (after the frontend's own,
	// so it wins), as "KEY=value" strings: GOMAXPROCS=1 or GOMEMLIMIT=64MiB
	// for small workers, say. Variables of the package's own (MP_BACKEND…)
	// cannot be set this way.
	Env []string
	// MessageBuffer is the capacity of the Messages channel; the backend
	// may send four times as many messages beyond it before its Send blocks
	// (replies to calls are never held back). Zero means 64; a negative
	// value or more than 65,536 is an error (wrapping os.ErrInvalid). Read
	// Messages.
	MessageBuffer int
}

// Process is the frontend's handle on a running backend process: what the
// parent uses to send to the child, call it, wait on its events, read its
// messages and stop it. Its methods are safe for concurrent use.
type Process struct {
	kind, name  string
	log         *slog.Logger
	cmd         *exec.Cmd
	in          *frameWriter // our end of the command pipe
	cancels     *frameWriter // our end of the cancel pipe (see Call)
	pipe        *msgPipe     // our end of the message pipe (msgpipe.go)
	sawReady    bool         // the backend reported ready; only with pipe's token
	msgs        chan Message
	inbox       *inbox       // messages read, waiting to be delivered to msgs
	queued      atomic.Int64 // messages pushed to inbox and not yet delivered
	owed        atomic.Int64 // credits earned by delivered messages, not yet given
	window      int          // the backend's message credits: 4 × MessageBuffer
	credits     *os.File     // eventfd of the credits given back (credits.go)
	events      *EventGroup
	stopTimeout time.Duration

	state    atomic.Int32
	nextID   atomic.Uint64
	mu       sync.Mutex
	pending  map[uint64]chan callResult // calls waiting for their reply
	remote   error                      // fatal error reported by the backend
	killed   bool                       // the stop ladder reached SIGKILL
	killedBy error                      // the Shutdown ctx's cause, if that is why
	stopping chan struct{}              // closed by RequestStop
	exited   context.Context            // cancelled when the child has exited
	setExit  context.CancelFunc
	ready    chan struct{} // closed when the backend reports its pre-run done
	done     chan struct{} // closed once the exit is fully accounted for
	exitErr  error

	stopOnce, reqOnce sync.Once
	stopErr           error
}

// Process states, in the order a process goes through them.
const (
	stateStarting int32 = iota
	stateRunning
	stateStopping
	stateExited
)

var stateNames = [...]string{"starting", "running", "stopping", "exited"}

func (p *Process) setState(s int32) {
	p.state.Store(s)
	p.log.Debug("state " + stateNames[s])
}

// Defaults of Options.StopTimeout and Options.MessageBuffer.
const (
	defaultStopTimeout   = 3 * time.Second
	defaultMessageBuffer = 64
	// creditsPerBuffer is how many messages a backend may send beyond
	// what the frontend has read, per slot of Options.MessageBuffer: the
	// frontend gives credits back a buffer's worth at a time, and a window
	// of four buffers keeps a fast sender from waiting for each batch (a
	// window of one buffer halved the manager's fan-in).
	creditsPerBuffer = 4
	maxMessageBuffer = 1 << 16
)

// start starts a backend of the kind registered under kind, by re-executing
// the running image, and returns the frontend's handle on it; see Kind.Start.
func start(ctx context.Context, kind string, opts Options) (p *Process, err error) {
	requireInit()
	if err := checkProcessName(opts.Name); err != nil {
		return nil, fmt.Errorf("mp: start %s: %w", kind, err)
	}
	wrap := func(err error) error { return fmt.Errorf("mp: start %q: %w", opts.Name, inner{limitError(err)}) }
	if _, ok := registry.get(kind); !ok {
		return nil, wrap(fmt.Errorf("%w %q", ErrUnknownKind, kind))
	}
	if err := checkOptions(opts); err != nil {
		return nil, wrap(err)
	}
	if err := starts.acquire(ctx); err != nil {
		return nil, wrap(err)
	}
	defer starts.release()
	var cleanup []func()
	defer func() {
		if err != nil {
			for _, f := range cleanup {
				f()
			}
		}
	}()
	// Two pipes: commands go down one, messages come up the other. os.Pipe
	// sets close-on-exec, so no other child inherits them.
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return nil, wrap(err)
	}
	cleanup = append(cleanup, func() { cmdR.Close(); cmdW.Close() })
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, wrap(err)
	}
	cleanup = append(cleanup, func() { outR.Close(); outW.Close() })
	// A third carries cancellations, so that they never wait behind
	// commands the backend has no room for yet.
	cancR, cancW, err := os.Pipe()
	if err != nil {
		return nil, wrap(err)
	}
	cleanup = append(cleanup, func() { cancR.Close(); cancW.Close() })
	pipes, err := pipeInodes(cmdR, outW)
	if err != nil {
		return nil, wrap(err)
	}
	stopTimeout := cmp.Or(opts.StopTimeout, defaultStopTimeout)
	buffer := cmp.Or(opts.MessageBuffer, defaultMessageBuffer)
	window := creditsPerBuffer * buffer

	p = &Process{
		kind: kind, name: opts.Name,
		log:         opts.Logger,
		in:          newFrameWriter(cmdW),
		cancels:     newFrameWriter(cancW),
		window:      window,
		msgs:        make(chan Message, buffer),
		inbox:       newInbox(),
		stopTimeout: stopTimeout,
		pending:     map[uint64]chan callResult{},
		stopping:    make(chan struct{}),
		ready:       make(chan struct{}),
		done:        make(chan struct{}),
	}
	if p.log == nil {
		p.log = NewLogger(kind+"."+opts.Name, Front)
	}
	p.exited, p.setExit = context.WithCancel(context.Background())
	p.log.Debug("state starting")
	// The credits' eventfd: ours stays non-blocking; the child gets a
	// duplicate (os/exec makes what it passes blocking; see passFiles).
	cfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, wrap(fmt.Errorf("credits eventfd: %w", err))
	}
	creditsFile := os.NewFile(uintptr(cfd), "mp-credits")
	p.credits = creditsFile
	cleanup = append(cleanup, func() { creditsFile.Close() })
	childCredits, restoreCredits, err := passFiles([]*os.File{p.credits})
	if err != nil {
		return nil, wrap(err)
	}
	defer restoreCredits()
	extra := []*os.File{cmdR, outW, childCredits[0], cancR}
	if opts.Events > 0 {
		g, childEnds, err := newEventGroup(p, opts.Events)
		if err != nil {
			return nil, wrap(err)
		}
		cleanup = append(cleanup, g.close)
		defer closeAll(childEnds)
		p.events = g
		extra = append(extra, childEnds...)
	}
	// The caller's files go as duplicates, whose mode we restore after the
	// start; see passFiles.
	files, restore, err := passFiles(opts.Files)
	if err != nil {
		return nil, wrap(err)
	}
	defer restore()
	extra = append(extra, files...)

	p.cmd = &exec.Cmd{
		// The running image, not the path it was started from: after an
		// upgrade or a delete, that path holds another build, or nothing.
		Path:       "/proc/self/exe",
		Args:       []string{argv0(opts.Name)},
		Env:        backendEnv(kind, opts, pipes, stopTimeout, window),
		Stdout:     writerOr(opts.Stdout, os.Stdout),
		Stderr:     writerOr(opts.Stderr, os.Stderr),
		ExtraFiles: extra,
		// The parent-death signal: SIGTERM, so that the backend runs its
		// post-run hook when the frontend goes away without stopping it
		// (see spawn.go for why the signal is reliable here, and the
		// backend's grace timer for a handler that ignores it).
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM},
		// A grandchild holding our stdout must not hang Wait.
		WaitDelay: time.Second,
	}
	if err := spawn(p.cmd); err != nil {
		return nil, wrap(err)
	}
	// Close our copies of the child's ends: now only the child holds them,
	// so its death is an EOF on outR and an EPIPE on cmdW.
	cmdR.Close()
	outW.Close()
	cancR.Close()
	if p.events != nil {
		p.events.afterStart()
	}
	// Two goroutines per process: the reader (which also reaps the child
	// once its pipe ends: no thread waits for an idle child's exit) and
	// the deliverer of Messages. An idle process parks both in the runtime.
	p.cmd.Env, p.cmd.Args = nil, nil // not needed any more; 1–4 KB each
	if p.pipe, err = newMsgPipe(outR); err != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		return nil, wrap(err)
	}
	go p.read()
	go p.deliver()
	// If Start fails from here on, the caller gets no Process to stop:
	// release the reader of whatever the backend sent before failing.
	cleanup = append(cleanup, p.RequestStop)
	if err := p.in.write(ctx, &frame{kind: kindInit, params: opts.Params}); err != nil {
		p.cmd.Process.Kill()
		<-p.done
		return nil, wrap(fmt.Errorf("sending start parameters: %w", err))
	}
	// Wait for the backend to be ready: its pre-run hook has run, so what
	// the hook prints comes before anything the caller prints next, and a
	// failing hook is Start's error.
	select {
	case <-p.ready:
	case <-p.done:
		if p.cmd.ProcessState.ExitCode() == exitNoInit {
			return nil, wrap(fmt.Errorf("%w (the backend exited with status %d): %s", ErrNoInit, exitNoInit, initHint()))
		}
		if p.exitErr == nil {
			return nil, wrap(fmt.Errorf("backend exited before it was ready: %w", ErrBackendDied))
		}
		return nil, wrap(p.exitErr)
	case <-ctx.Done():
		p.cmd.Process.Kill()
		<-p.done
		return nil, wrap(context.Cause(ctx))
	}
	// Only starting → running: the backend may already have exited (or
	// been asked to stop) since it reported ready.
	if p.state.CompareAndSwap(stateStarting, stateRunning) {
		p.log.Debug("state running")
	}
	p.log.Debug("started", "pid", p.cmd.Process.Pid)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { p.Stop() })
		go func() { <-p.done; stop() }()
	}
	return p, nil
}

// checkOptions rejects options that cannot mean anything, with an error
// wrapping os.ErrInvalid that names the field.
func checkOptions(opts Options) error {
	switch {
	case opts.MessageBuffer > maxMessageBuffer:
		// The channel is allocated whole: a huge one is a fatal
		// out-of-memory error, which no caller could recover from.
		return fmt.Errorf("Options.MessageBuffer %d is more than %d: %w", opts.MessageBuffer, maxMessageBuffer, os.ErrInvalid)
	case opts.MessageBuffer < 0:
		return fmt.Errorf("Options.MessageBuffer %d is negative: %w", opts.MessageBuffer, os.ErrInvalid)
	case opts.StopTimeout < 0:
		return fmt.Errorf("Options.StopTimeout %v is negative: %w", opts.StopTimeout, os.ErrInvalid)
	case opts.Events < 0:
		return fmt.Errorf("Options.Events %d is negative: %w", opts.Events, os.ErrInvalid)
	}
	return nil
}

func writerOr(w io.Writer, def *os.File) io.Writer {
	if w != nil {
		return w
	}
	return def
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// backendEnv is our environment, minus variables that would make the child
// something else, plus those that make it this backend.
func backendEnv(kind string, opts Options, pipes string, stopTimeout time.Duration, window int) []string {
	env := make([]string, 0, len(os.Environ())+len(backendVars))
	for _, kv := range slices.Concat(os.Environ(), opts.Env) {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(backendVars, k) {
			env = append(env, kv)
		}
	}
	return append(env,
		envKind+"="+kind, envPipes+"="+pipes, envName+"="+opts.Name,
		envEvents+"="+strconv.Itoa(opts.Events), envFiles+"="+strconv.Itoa(len(opts.Files)),
		envGrace+"="+(stopTimeout+time.Second).String(), envWindow+"="+strconv.Itoa(window))
}

// pipeInodes returns "<inode of r>:<inode of w>", which the backend checks
// against its file descriptors 3 and 4.
func pipeInodes(r, w *os.File) (string, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(r.Fd()), &a); err != nil {
		return "", err
	}
	if err := unix.Fstat(int(w.Fd()), &b); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%d", a.Ino, b.Ino), nil
}

// Name returns the process name given in Options.Name.
func (p *Process) Name() string { return p.name }

// Kind returns the name of the process's kind.
func (p *Process) Kind() string { return p.kind }

// Pid returns the backend's process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// ProcessState returns the backend's exit status (exit code or signal, and
// its resource usage) once Done is closed, and nil before.
func (p *Process) ProcessState() *os.ProcessState {
	select {
	case <-p.done:
		return p.cmd.ProcessState
	default:
		return nil
	}
}

// Log returns the frontend's logger for this process; its lines are marked
// "[front]".
func (p *Process) Log() *slog.Logger { return p.log }

// Events returns the process's event group. With Options.Events 0 the group
// is empty: Reserve fails with ErrNoFreeEvent.
func (p *Process) Events() *EventGroup {
	if p.events == nil {
		return &EventGroup{p: p}
	}
	return p.events
}

// Messages returns the channel on which messages sent by the backend
// (Backend.Send) arrive, in order. It is closed after the backend has exited
// and the messages it sent have been delivered. Read it: once the channel's
// buffer (Options.MessageBuffer) and four times as many messages wait, the
// backend's Send blocks until they are read (see credits.go). Replies to
// calls never wait behind unread messages. Once RequestStop or Stop has
// been called, messages that do not fit in the channel's buffer are dropped
// instead (the first with a warning, the rest counted in a second one), so
// that a backend can always be stopped: read what you need before stopping.
// Messages of a backend that exited on its own are kept until they are read
// or Stop is called.
func (p *Process) Messages() <-chan Message { return p.msgs }

// Done returns a channel closed once the backend has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns why the backend exited once Done is closed (nil for a clean
// exit), and nil before.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.exitErr
	default:
		return nil
	}
}

// Send sends a command to the backend without waiting for it to be handled.
// It fails with ErrStopped after RequestStop or Stop, with an error wrapping
// ErrBackendDied if the backend is gone, with ErrParam or ErrFrameTooLarge for
// a message that cannot be sent, and with ctx's error if ctx ends while the
// pipe is full. A message is sent whole or not at all: if ctx ends half way
// through a large one, Send returns ctx's error and the rest follows in the
// background, so the stream stays whole and the backend healthy (it will
// handle the message, unless the process is stopped before the rest is
// out: the backend then sees its command pipe end inside a frame, and
// stops as asked).
func (p *Process) Send(ctx context.Context, command string, params Params) error {
	return p.send(ctx, &frame{kind: kindSend, command: command, params: params}, nil)
}

// send writes fr to the command pipe; number, if not nil, is called on fr
// with the pipe's turn taken (see frameWriter.writeNumbered).
func (p *Process) send(ctx context.Context, fr *frame, number func(*frame)) error {
	if err := p.usable(); err != nil {
		return fmt.Errorf("mp: send %q to %q: %w", fr.command, p.name, inner{err})
	}
	if err := p.in.writeNumbered(ctx, fr, number); err != nil {
		if errors.Is(err, syscall.EPIPE) || p.state.Load() == stateExited {
			err = p.deathError()
		}
		return fmt.Errorf("mp: send %q to %q: %w", fr.command, p.name, inner{err})
	}
	return nil
}

// usable returns nil while the process accepts commands.
func (p *Process) usable() error {
	switch p.state.Load() {
	case stateStopping:
		return ErrStopped
	case stateExited:
		return p.deathError()
	}
	return nil
}

// deathError says why the backend is gone, once that is known: ErrStopped
// if the frontend asked it to stop and it did, and otherwise an error
// wrapping ErrBackendDied that says how it ended (a backend that exits on
// its own, even with status 0, died as far as a waiting caller is concerned).
func (p *Process) deathError() error {
	select {
	case <-p.done:
	case <-time.After(time.Second): // exit not yet reaped; do not wait for it
		return ErrBackendDied
	}
	switch {
	case p.exitErr == nil && p.stopRequested():
		return ErrStopped
	case p.exitErr == nil:
		return fmt.Errorf("%w: it exited on its own (%v)", ErrBackendDied, p.cmd.ProcessState)
	case errors.Is(p.exitErr, ErrBackendDied):
		return p.exitErr
	}
	return fmt.Errorf("%w: %w", ErrBackendDied, p.exitErr)
}

// stopRequested reports whether RequestStop, Stop or Shutdown was called.
func (p *Process) stopRequested() bool {
	select {
	case <-p.stopping:
		return true
	default:
		return false
	}
}

// Call sends a command and waits for the backend's reply: the message the
// handler passed to Backend.Reply, or an empty message once a handler that
// did not reply returns. Calls from several goroutines may be in flight at
// once; each gets its own reply.
//
// Call returns an error wrapping ErrHandler if the handler returned an
// error, ErrUnknownCommand if there is no handler, ErrHandlerPanic or
// ErrBackendDied if the backend died before replying, ErrStopped after Stop,
// and ctx's error if ctx ends first. A Call whose ctx ends tells the
// backend: the handler's ctx is cancelled (or, if it has not started, the
// call is skipped) and its reply is dropped.
func (p *Process) Call(ctx context.Context, command string, params Params) (Message, error) {
	ch := make(chan callResult, 1)
	fr := &frame{kind: kindCall, command: command, params: params}
	// The id is taken with the command pipe's turn, so that calls reach
	// the backend in the order of their ids: its cancellations rely on it
	// (Backend.cancel).
	number := func(fr *frame) {
		fr.id = p.nextID.Add(1)
		p.mu.Lock()
		p.pending[fr.id] = ch
		p.mu.Unlock()
	}
	if err := p.send(ctx, fr, number); err != nil {
		if fr.id == 0 {
			return Message{}, err // never numbered, never sent
		}
		p.forget(fr.id)
		if errors.Is(err, errRestFollows) {
			// ctx ended half way through the frame: the backend will get
			// the call whole, so it must also hear that we gave up.
			p.cancelCall(fr.id)
		}
		return Message{}, err
	}
	id := fr.id
	res, ok := p.readReply(ctx, ch)
	if !ok {
		res, ok = p.awaitReply(ctx, id, ch)
	}
	if !ok {
		return Message{}, fmt.Errorf("mp: call %q on %q: %w", command, p.name, res.err)
	}
	if res.err != nil {
		return Message{}, fmt.Errorf("mp: call %q on %q: %w", command, p.name, inner{res.err})
	}
	reply := res.fr
	if reply.code != 0 {
		return Message{}, &RemoteError{Process: p.name, Command: command, Code: reply.code, Msg: reply.errText}
	}
	return Message{Command: reply.command, Params: reply.params}, nil
}

// readReply reads the message pipe itself for the reply that comes on ch,
// if no other goroutine reads it (see msgpipe.go), routing what comes
// before the reply. It polls the pipe while polling pays (spin.go) and
// reports whether it got the reply; if not, the reader goroutine reads on.
func (p *Process) readReply(ctx context.Context, ch chan callResult) (res callResult, got bool) {
	m := p.pipe
	if !m.take() {
		return res, false
	}
	defer m.letGo()
	try := func() bool {
		for {
			select {
			case res = <-ch:
				got = true
				return true
			default:
			}
			switch err := p.routeOne(m.nextWhole); {
			case errors.Is(err, errNoData), errors.Is(err, errNotWhole):
				return ctx.Err() != nil
			case err != nil:
				return true // the reader goroutine accounts for the exit
			case ctx.Err() != nil:
				return true // even if frames keep coming
			}
		}
	}
	if !try() {
		m.src.spin.poll(try)
	}
	// Frames read into the buffer (with the reply, or before the ctx
	// ended) are routed now: the token goes back with nothing buffered but
	// the start of a frame yet to come, so that the reader goroutine,
	// which looks only at the pipe, misses nothing.
	for m.buffered() && p.routeOne(m.nextWhole) == nil {
	}
	return res, got
}

// awaitReply waits for the reader goroutine to route the reply of call id
// to ch. If none comes it reports false, with the error to return in res.
func (p *Process) awaitReply(ctx context.Context, id uint64, ch chan callResult) (res callResult, ok bool) {
	select {
	case res = <-ch:
	case <-ctx.Done():
		p.forget(id)
		// Tell the backend: its handler's ctx is cancelled, or the call
		// skipped if it has not started. The reply, if any, is dropped.
		p.cancelCall(id)
		return callResult{err: context.Cause(ctx)}, false
	case <-p.done:
		select {
		case res = <-ch:
		default:
			p.forget(id)
			return callResult{err: inner{p.deathError()}}, false
		}
	}
	return res, true
}

// cancelCall tells the backend that the caller of call id gave up. It
// writes before Call returns, so that a Stop that follows cannot close the
// cancel pipe first (a goroutine writing it used to lose that race, and the
// handler ran on until SIGTERM). The backend reads that pipe at once, so
// the write is quick; it is bounded all the same, for a backend that no
// longer reads anything.
func (p *Process) cancelCall(id uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p.cancels.write(ctx, &frame{kind: kindCancel, id: id})
}

// callResult is what a waiting Call receives: the reply frame, or why none
// will come.
type callResult struct {
	fr  frame
	err error
}

func (p *Process) forget(id uint64) {
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
}

// read reads the message pipe whenever no Call reads it (msgpipe.go),
// routing replies to their calls, messages to Messages and failures to the
// log and to Wait. It never blocks on anything but the pipe, so a reply is
// never held up. When the pipe ends, the backend has exited: read reaps it.
func (p *Process) read() {
	defer p.wait()
	defer p.inbox.close()
	m := p.pipe
	defer m.f.Close() // with the token, kept: no caller reads a closed descriptor
	for {
		if err := m.await(); err != nil {
			return
		}
		var err error
		for err == nil {
			err = p.routeOne(m.next) // drain the pipe
		}
		if m.broken.Load() {
			m.f.SetReadDeadline(time.Time{})
			io.Copy(io.Discard, m.f) // until the killed backend's pipe ends
			return
		}
		if !errors.Is(err, errNoData) {
			return // the pipe's end
		}
		m.tok.Store(false)
	}
}

// routeOne reads a frame with next (msgPipe.next or nextWhole) and routes
// it. It returns next's errNoData or errNotWhole as they are (nothing was
// read), and any other failure (the pipe's end, bad data, a frame that
// has no business on the pipe) once readFailed has handled it.
func (p *Process) routeOne(next func() (frame, error)) error {
	fr, err := next()
	switch {
	case errors.Is(err, errNoData), errors.Is(err, errNotWhole):
		return err
	case err == nil && p.route(fr):
		return nil
	}
	p.readFailed(err)
	if err == nil {
		err = ErrBadFrame
	}
	return err
}

// readFailed handles what a read of the message pipe ended with (err, or
// nil for a frame of a kind that has no business there): the pipe's end,
// or bad data, for which the backend is killed.
func (p *Process) readFailed(err error) {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The pipe ended inside a frame: the backend died (killed,
		// typically) while it wrote. That is a death, which wait reports
		// with the exit status, not bad data.
		p.log.Debug("message pipe ended inside a frame", "err", err)
	case errors.Is(err, io.EOF):
	case err == nil:
		// route has killed the backend.
		p.pipe.broken.Store(true)
	default:
		// The stream is lost: nothing after this can be trusted.
		p.pipe.broken.Store(true)
		p.log.Error(fmt.Sprintf("bad data from backend, killing it: %v", err))
		p.fail(fmt.Errorf("bad data from %q: %w: %w", p.name, ErrBackendDied, err))
		p.cmd.Process.Kill()
	}
}

// route delivers one frame read from the message pipe. It reports false
// for a frame of a kind that has no business there, after killing the
// backend. Only the holder of the pipe's token calls it, so frames are
// routed in the order they came.
func (p *Process) route(fr frame) bool {
	switch fr.kind {
	case kindMessage:
		m := Message{Command: fr.command, Params: fr.params}
		// The short way, when nothing waits before this message and
		// the channel has room: straight into Messages, no hand-off.
		if p.queued.Load() == 0 {
			select {
			case p.msgs <- m:
				p.delivered()
				return true
			default:
			}
		}
		p.queued.Add(1)
		p.inbox.push(m)
	case kindReply:
		p.mu.Lock()
		ch := p.pending[fr.id]
		delete(p.pending, fr.id)
		p.mu.Unlock()
		if ch == nil {
			p.log.Debug("reply after its call gave up", "command", fr.command, "id", fr.id)
			return true
		}
		ch <- callResult{fr: fr}
	case kindError:
		re := &RemoteError{Process: p.name, Command: fr.command, Code: fr.code, Msg: fr.errText}
		p.log.Warn(re.Error())
	case kindReady:
		if !p.sawReady {
			p.sawReady = true
			close(p.ready)
		}
	case kindFatal:
		re := &RemoteError{Process: p.name, Command: fr.command, Code: fr.code, Msg: fr.errText}
		p.fail(re)
	default:
		p.log.Error(fmt.Sprintf("unexpected frame kind %d from backend, killing it", fr.kind))
		p.fail(fmt.Errorf("bad data from %q: frame kind %d: %w: %w", p.name, fr.kind, ErrBackendDied, ErrBadFrame))
		p.cmd.Process.Kill()
		return false
	}
	return true
}

// deliver moves messages from the reader to Messages, waiting for room
// unless the process is being stopped, in which case an unread message is
// dropped (the first with a warning, the rest counted in one). Every
// message delivered or dropped earns the backend a credit back (see
// credits.go). What an exited backend sent waits for a reader, or for Stop.
// Messages closes once the exit is accounted for.
func (p *Process) deliver() {
	defer close(p.msgs)
	drops := 0
	for {
		m, ok := p.inbox.pop()
		if !ok {
			break
		}
		select {
		case p.msgs <- m:
		default:
			select {
			case p.msgs <- m:
			case <-p.stopping:
				if drops++; drops == 1 {
					p.dropped(m)
				}
			}
		}
		p.queued.Add(-1) // after the send: the reader's short way keeps the order
		p.delivered()
	}
	if drops > 1 {
		p.log.Warn(fmt.Sprintf("dropped %d messages in all while the process stopped", drops))
	}
	<-p.done
}

// delivered counts a message delivered (or dropped), and gives the backend
// a batch of credits back every buffer's worth.
func (p *Process) delivered() {
	batch := int64(max(p.window/creditsPerBuffer, 1))
	if p.owed.Add(1) >= batch {
		if k := p.owed.Swap(0); k > 0 {
			p.giveCredits(int(k))
		}
	}
}

// giveCredits gives the backend k credits back, unless it is gone.
func (p *Process) giveCredits(k int) {
	rc, err := p.credits.SyscallConn()
	if err != nil {
		return // closed: the backend has exited
	}
	rc.Control(func(fd uintptr) { giveCredits(int(fd), k) })
}

// dropped logs the first message dropped; the others are only counted.
func (p *Process) dropped(m Message) {
	p.log.Warn(fmt.Sprintf("dropped message %q: Messages is full and the process is stopping (further drops are counted)", m.Command))
}

// fail records the first fatal error and fails the calls waiting for a reply.
func (p *Process) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.remote == nil {
		p.remote = err
	}
	for id, ch := range p.pending {
		ch <- callResult{err: err}
		delete(p.pending, id)
	}
}

// wait reaps the child once its message pipe has ended (so it is exiting,
// and cmd.Wait returns at once) and works out why it exited.
func (p *Process) wait() {
	werr := p.cmd.Wait()
	if errors.Is(werr, exec.ErrWaitDelay) {
		// The backend exited cleanly, but something it started still
		// holds its stdout or stderr: that is not the backend's failure.
		p.log.Warn("exited, but a process it started still holds its output; no longer copying it")
		werr = nil
	}
	p.setExit()
	p.mu.Lock()
	remote, killed, killedBy := p.remote, p.killed, p.killedBy
	p.mu.Unlock()
	switch {
	case remote != nil:
		p.exitErr = remote
	case werr != nil && killedBy != nil:
		p.exitErr = fmt.Errorf("mp: %q was killed: the shutdown's context ended before it stopped (%w): %w", p.name, killedBy, ErrBackendDied)
	case werr != nil && killed:
		p.exitErr = fmt.Errorf("mp: %q did not stop within %v and was killed: %w", p.name, 2*p.stopTimeout, ErrBackendDied)
	case werr != nil && p.state.Load() == stateStopping && isSignal(werr, syscall.SIGTERM):
		p.exitErr = nil // asked to terminate, and it did
	case werr != nil:
		p.exitErr = fmt.Errorf("mp: backend %q: %v: %w", p.name, werr, ErrBackendDied)
	}
	if p.events != nil {
		p.events.close()
	}
	p.credits.Close()
	p.setState(stateExited) // before closing: a Send failing now sees a death
	p.in.close()
	p.cancels.close()
	if p.exitErr != nil {
		p.log.Debug("exited", "err", p.exitErr)
	}
	close(p.done)
}

func isSignal(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return ws.Signaled() && ws.Signal() == sig
		}
	}
	return false
}
