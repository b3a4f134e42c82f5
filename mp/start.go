package mp

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mpgo/mp/internal/mplog"
)

// start starts a backend of the kind registered under kind, by re-executing
// the running image, and returns the frontend's handle on it; see Kind.Start.
func start(ctx context.Context, kind string, opts Options) (*Process, error) {
	p, again, err := startOnce(ctx, kind, opts, 1)
	if again {
		// Out of descriptors while other starts may have held theirs
		// for a moment: once more, alone (see starts).
		p, _, err = startOnce(ctx, kind, opts, starts.size)
	}
	return p, err
}

// startOnce is one attempt of start: check, spawn, handshake, holding slots
// of the start limit (starts) until the child runs. again reports that the
// attempt held fewer than all of them and failed for want of descriptors
// before the child ran.
func startOnce(ctx context.Context, kind string, opts Options, slots int) (p *Process, again bool, err error) {
	requireInit()
	if err := checkProcessName(opts.Name); err != nil {
		return nil, false, opError("start", "", fmt.Errorf("a %s: %w", kind, err))
	}
	wrap := func(err error) error { return opError("start", opts.Name, limitError(err)) }
	if _, ok := registry.get(kind); !ok {
		return nil, false, wrap(fmt.Errorf("%w %q", ErrUnknownKind, kind))
	}
	if err := checkOptions(opts); err != nil {
		return nil, false, wrap(err)
	}
	// The limit bounds the fork/exec bursts only: it is released once the
	// backend runs, not when it is ready, so a slow pre-run hook of one
	// kind holds back no other start.
	if err := starts.acquire(ctx, slots); err != nil {
		return nil, false, wrap(err)
	}
	var undo undoList
	p, err = spawnBackend(kind, opts, &undo)
	if err != nil {
		// What the start opened is closed before its slots are given
		// back: a start alone then sees only what the running
		// processes hold.
		undo.run()
		starts.release(slots)
		return nil, isFdLimit(err) && slots < starts.size, wrap(err)
	}
	starts.release(slots)
	if err := p.handshake(ctx, opts.Params, &undo); err != nil {
		undo.run()
		return nil, false, wrap(err)
	}
	return p, false, nil
}

// undoList is what a failed start closes: everything it opened so far.
type undoList []func()

func (u *undoList) add(f func()) { *u = append(*u, f) }

func (u undoList) run() {
	for _, f := range u {
		f()
	}
}

// spawnBackend opens what a backend needs and starts its process, with a
// slot of the start limit held. The backend runs, but has not yet received
// its start parameters.
func spawnBackend(kind string, opts Options, undo *undoList) (*Process, error) {
	ps, err := openPipes(undo)
	if err != nil {
		return nil, err
	}
	inodes, err := pipeInodes(ps.cmdR, ps.outW)
	if err != nil {
		return nil, err
	}
	p := newProcess(kind, opts, ps)
	// The message pipe's reader is made before the child runs, so that a
	// start that runs out of descriptors does so before it, as one that
	// can be tried again (see startOnce).
	if err := p.conn.open(ps.outR); err != nil {
		return nil, err
	}
	undo.add(p.conn.pipe.close)
	extra, afterExec, err := p.childFiles(opts, ps, undo)
	defer afterExec.run() // the child has its copies, or never will
	if err != nil {
		return nil, err
	}
	p.cmd = backendCmd(kind, opts, inodes, p.conn.window, extra)
	if err := spawn(p.cmd); err != nil {
		return nil, err
	}
	ps.closeChildEnds()
	if p.events != nil {
		p.events.afterStart()
	}
	// One goroutine per idle process: the reader, which also reaps the
	// child once its pipe ends (no thread waits for an idle child's exit),
	// parked in the runtime. The deliverer of Messages runs only while
	// messages wait for room in Messages (see inbox).
	p.cmd.Env, p.cmd.Args = nil, nil // not needed any more; 1–4 KB each
	go p.conn.read()
	return p, nil
}

// newProcess makes the frontend's handle, before its backend runs.
func newProcess(kind string, opts Options, ps startPipes) *Process {
	p := &Process{
		kind: kind, name: opts.Name,
		log:         opts.Logger,
		stopTimeout: cmp.Or(opts.StopTimeout, defaultStopTimeout),
		stopping:    make(chan struct{}),
		ending:      make(chan struct{}),
		ready:       make(chan struct{}),
		done:        make(chan struct{}),
	}
	if p.log == nil {
		p.log = mplog.New(kind+"."+opts.Name, mplog.Front)
	}
	buffer := cmp.Or(opts.MessageBuffer, defaultMessageBuffer)
	p.conn = newFrontConn(p, p.name, p.log, ps.cmdW, ps.cancW, buffer, p.stopping, p.done)
	p.exited, p.setExit = context.WithCancel(context.Background())
	p.log.Debug("state starting")
	return p
}

// childFiles opens the credits' eventfd and the event slots, and lists the
// files the child receives, in the order of its descriptors (3, 4, …; see
// backend.go). afterExec closes our duplicates of what the child received
// and restores the mode the caller's files share (see passFiles).
func (p *Process) childFiles(opts Options, ps startPipes, undo *undoList) (extra []*os.File, afterExec undoList, err error) {
	// The credits' eventfd: ours stays non-blocking; the child gets a
	// duplicate (os/exec makes what it passes blocking).
	cfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, nil, fmt.Errorf("credits eventfd: %w", err)
	}
	credits := os.NewFile(uintptr(cfd), "mp-credits")
	p.conn.credits = credits
	undo.add(func() { credits.Close() })
	childCredits, restoreCredits, err := passFiles([]*os.File{credits})
	if err != nil {
		return nil, nil, err
	}
	afterExec.add(restoreCredits)
	extra = []*os.File{ps.cmdR, ps.outW, childCredits[0], ps.cancR}
	if opts.Events > 0 {
		g, childEnds, err := newEventSlots(p, opts.Events)
		if err != nil {
			return nil, afterExec, err
		}
		undo.add(g.close)
		afterExec.add(func() { closeAll(childEnds) })
		p.events = g
		extra = append(extra, childEnds...)
	}
	files, restore, err := passFiles(opts.Files)
	if err != nil {
		return nil, afterExec, err
	}
	afterExec.add(restore)
	return append(extra, files...), afterExec, nil
}

// backendCmd is the command that re-executes the running image as the
// backend.
func backendCmd(kind string, opts Options, inodes string, window int, extra []*os.File) *exec.Cmd {
	stopTimeout := cmp.Or(opts.StopTimeout, defaultStopTimeout)
	return &exec.Cmd{
		// The running image, not the path it was started from: after an
		// upgrade or a delete, that path holds another build, or nothing.
		Path:       "/proc/self/exe",
		Args:       []string{argv0(opts.Name)},
		Env:        backendEnv(kind, opts, inodes, stopTimeout, window),
		Stdout:     writerOr(opts.Stdout, os.Stdout),
		Stderr:     writerOr(opts.Stderr, os.Stderr),
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			// The parent-death signal: SIGTERM, so that the backend
			// runs its post-run hook when the frontend goes away
			// without stopping it (see spawn.go for why the signal is
			// reliable here, and the backend's grace timer for a
			// handler that ignores it).
			Pdeathsig: syscall.SIGTERM,
			// A process group of its own: what the backend starts
			// goes with it (see group.go), and Ctrl-C in a terminal,
			// which reaches the foreground group, is the frontend's
			// alone to act on.
			Setpgid: true,
		},
		// A grandchild holding our stdout must not hang Wait.
		WaitDelay: time.Second,
	}
}

// handshake sends the backend its start parameters and waits until it is
// ready: its pre-run hook has run, so what the hook prints comes before
// anything the caller prints next, and a failing hook is Start's error.
func (p *Process) handshake(ctx context.Context, params Params, undo *undoList) error {
	// If Start fails from here on, the caller gets no Process to stop:
	// release the reader of whatever the backend sent before failing.
	undo.add(p.CloseSend)
	if testHookBeforeStartParams != nil {
		testHookBeforeStartParams(p)
	}
	if err := p.conn.sendStart(ctx, params); err != nil {
		p.cmd.Process.Kill()
		<-p.done
		// A backend whose main forgot Init may exit before its
		// parameters are sent: that, not the broken pipe, is the error.
		if err := p.noInitError(); err != nil {
			return err
		}
		return fmt.Errorf("sending start parameters: %w", err)
	}
	select {
	case <-p.ready:
	case <-p.done:
		if err := p.noInitError(); err != nil {
			return err
		}
		if p.exitErr == nil {
			return fmt.Errorf("backend exited before it was ready: %w", ErrBackendDied)
		}
		return p.exitErr
	case <-ctx.Done():
		p.cmd.Process.Kill()
		<-p.done
		return context.Cause(ctx)
	}
	// Only starting → running: the backend may already have exited (or
	// been asked to stop) since it reported ready.
	if p.state.CompareAndSwap(stateStarting, stateRunning) {
		p.log.Debug("state running")
	}
	p.log.Debug("started", "pid", p.cmd.Process.Pid)
	return nil
}

// testHookBeforeStartParams, when set by a test, runs in handshake before
// the start parameters are sent.
var testHookBeforeStartParams func(*Process)

// noInitError is Start's error for a backend that has exited because its
// main did not call Init, or nil.
func (p *Process) noInitError() error {
	if p.cmd.ProcessState.ExitCode() != exitNoInit {
		return nil
	}
	return fmt.Errorf("%w (the backend exited with status %d): %s", ErrNoInit, exitNoInit, initHint())
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
	grace := stopTimeout + time.Second
	if grace < stopTimeout {
		grace = math.MaxInt64 // StopTimeout means "as long as it takes"
	}
	return append(env,
		envKind+"="+kind, envPipes+"="+pipes, envName+"="+opts.Name,
		envEvents+"="+strconv.Itoa(opts.Events), envFiles+"="+strconv.Itoa(len(opts.Files)),
		envGrace+"="+grace.String(), envWindow+"="+strconv.Itoa(window))
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
