package mp

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/env"
	"github.com/mpgo/mp/internal/initcheck"
	"golang.org/x/sys/unix"
)

// What a frontend puts in a backend's environment. The variables are
// removed as soon as they are read, so processes that a backend starts do
// not inherit them. A variable alone never makes a backend: MP_PIPES must
// name the inodes of the pipes on file descriptors 3 and 4, which only the
// frontend that made those pipes can know.
const (
	envKind   = "MP_BACKEND" // the kind's registered name
	envPipes  = "MP_PIPES"   // "<inode of fd 3>:<inode of fd 4>"
	envName   = "MP_NAME"    // Options.Name
	envEvents = "MP_EVENTS"  // Options.Events
	envFiles  = "MP_FILES"   // len(Options.Files)
	envGrace  = "MP_GRACE"   // how long a terminated backend may take, e.g. "4s"
	envWindow = "MP_WINDOW"  // Options.MessageBuffer: the backend's message credits
	// The frontend's thread that started the backend (spawn.go), whose
	// exit is the backend's parent-death signal (see frontendGone).
	envSpawner = "MP_SPAWNER"
)

var backendVars = []string{envKind, envPipes, envName, envEvents, envFiles, envGrace, envWindow, envSpawner}

// launch is what a frontend asked this process to be.
type launch struct {
	kind, name            string
	events, files, window int
	grace                 time.Duration
	frontend, spawner     int // the frontend's PID (our parent's at start) and its spawner thread's
}

var (
	// launched is set by package initialization when this process was
	// started as a backend by a frontend; launchErr when the environment
	// says so but the file descriptors do not.
	launched  *launch
	launchErr error

	isBackend atomic.Bool
)

func init() {
	launched, launchErr = readLaunch()
	if launched != nil {
		// Until Init runs, mp and mp/shm refuse to start processes or
		// create segments here (see requireInit).
		initcheck.StartedAs(launched.kind)
		// Package initialization runs on the main thread, whose name is
		// what ps and top show as the command (comm). Name it now, before
		// the runtime starts more threads that would inherit "exe".
		setThreadName("mp:" + launched.name)
		// A backend leads a process group of its own, so Ctrl-C in a
		// terminal does not reach it; a SIGINT sent to it anyway (kill
		// -INT, or to its group) is caught and dropped, and only the
		// frontend acts on it (see handleSignals). Catch it now, not in
		// Init: a SIGINT during the rest of start-up must not kill us.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGINT)
	}
	if launched != nil || launchErr != nil {
		for _, v := range backendVars {
			os.Unsetenv(v)
		}
	}
}

// readLaunch reads the backend's environment, and checks that file
// descriptors 3 and 4 are the pipes its frontend made.
func readLaunch() (*launch, error) {
	kind := os.Getenv(envKind)
	if kind == "" {
		return nil, nil
	}
	notOurs := func(why string) error {
		return fmt.Errorf("%s=%q is set, but %s: this is not a backend started by an mp frontend, so it runs as an ordinary program", envKind, kind, why)
	}
	in, out, ok := strings.Cut(os.Getenv(envPipes), ":")
	if !ok {
		return nil, notOurs(envPipes + " is missing")
	}
	for fd, want := range map[int]string{fdCommands: in, fdMessages: out} {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO || strconv.FormatUint(st.Ino, 10) != want {
			return nil, notOurs(fmt.Sprintf("file descriptor %d is not the pipe its frontend made", fd))
		}
	}
	l := &launch{kind: kind, name: os.Getenv(envName), frontend: os.Getppid()}
	l.events, _ = strconv.Atoi(os.Getenv(envEvents))
	l.files, _ = strconv.Atoi(os.Getenv(envFiles))
	l.grace, _ = time.ParseDuration(os.Getenv(envGrace))
	l.spawner, _ = strconv.Atoi(os.Getenv(envSpawner))
	if l.window, _ = strconv.Atoi(os.Getenv(envWindow)); l.window <= 0 {
		l.window = creditsPerBuffer * defaultMessageBuffer
	}
	if l.grace <= 0 {
		l.grace = defaultStopTimeout + time.Second
	}
	return l, nil
}

// Init turns the process into a backend if a frontend started it as one,
// and returns at once otherwise. Call it first in main, before flags are
// parsed or anything is printed: in a backend, Init runs the backend's hooks
// and loop and then exits the process, never returning.
//
// In every process, Init also makes a closed standard output harmless: by
// default a Go program writing to a closed pipe on fd 1 or 2 (prog | head -1)
// dies of SIGPIPE; after Init such writes fail with EPIPE instead, and log
// lines that cannot be written are dropped. In the frontend, Init reports
// MP_* environment variables it cannot read, on standard error.
func Init() {
	initcheck.InitCalled()
	// Handled (not ignored): a handled signal is reset by exec, so the
	// programs we start still get the default SIGPIPE behaviour.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if launched == nil {
		if launchErr != nil {
			fmt.Fprintln(os.Stderr, "mp: warning:", launchErr)
		}
		// Every variable of the project, whoever reads it: MP_FAST=yes
		// is reported like MP_LOG_TIME=yes.
		for _, err := range env.Check() {
			fmt.Fprintln(os.Stderr, "mp: warning:", err)
		}
		frontendReady.Store(true)
		return
	}
	isBackend.Store(true)
	exitBackend(runBackend(launched))
}

// frontendReady is set once Init has returned in the frontend: from then
// on, a handler registered would never reach a backend (Kind.Handle).
var frontendReady atomic.Bool

// IsBackend reports whether the running process is a backend: true in a
// child's hooks and handlers, from Init until the process exits.
func IsBackend() bool { return isBackend.Load() }

// exitNoInit is the exit status of a backend whose main did not call Init.
const exitNoInit = initcheck.ExitNoInit

// requireInit stops a backend whose main forgot to call Init before using
// the package. Without this check such a program would run its main again in
// every backend, and each would start backends of its own: a chain of
// processes, each a copy of the program. mp/shm makes the same check before
// it creates a named segment, which would outlive the child.
func requireInit() { initcheck.Require() }

// initHint says how to add the missing Init: to main, or to a test
// binary's TestMain.
func initHint() string { return initcheck.Hint() }
