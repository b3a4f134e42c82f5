package mp

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// A Kind describes one type of backend process: its name, how to build its
// backend state B in the child, and the handlers that run there. Declare
// kinds as package-level variables so that they are registered before Init
// runs:
//
//	var pinger = mp.NewKind("MyProcess", newPingBackend).
//		Handle("ping", (*pingBackend).ping)
//
// The type parameter B is the backend state. Only the child ever builds a B
// (the frontend receives a *Process, which has no B in it), so the compiler
// keeps backend state out of frontend code.
type Kind[B any] struct {
	name       string
	newBackend func(*Backend) *B
	handlers   map[string]handler[B]
}

// handler is a command's handler as the kind holds it: with the *Backend the
// loop runs it on, which typed commands reply through.
type handler[B any] func(b *B, be *Backend, ctx context.Context, m Message) error

// NewKind registers a backend kind under name. newBackend runs in the child,
// after the re-exec and before the pre-run hook; the *Backend it receives is
// the child's side of the process (logging, sending to the frontend, events).
//
// NewKind panics if name is empty or already registered: kinds are declared
// at package initialization, where such a mistake must stop the program.
func NewKind[B any](name string, newBackend func(*Backend) *B) *Kind[B] {
	k := &Kind[B]{name: name, newBackend: newBackend, handlers: map[string]handler[B]{}}
	registry.add(name, k)
	return k
}

// Handle registers h as the handler of command and returns k, so that calls
// can be chained. Handlers run in the backend, one at a time, in the order
// the messages were sent. Method expressions make this read well:
// Handle("ping", (*pingBackend).ping).
//
// Register handlers at package level, in the declaration of the kind's
// variable or in an init function: a backend is the program started again,
// and Init runs it before main goes on, so a handler registered in main
// after Init never reaches it. Handle panics if command is empty or already
// has a handler, and if Init has already returned (the frontend's).
func (k *Kind[B]) Handle(command string, h func(b *B, ctx context.Context, m Message) error) *Kind[B] {
	if h == nil {
		panic(fmt.Sprintf("mp: kind %q: Handle needs a handler", k.name))
	}
	return k.handle(command, func(b *B, _ *Backend, ctx context.Context, m Message) error { return h(b, ctx, m) })
}

// handle registers h as the handler of command.
func (k *Kind[B]) handle(command string, h handler[B]) *Kind[B] {
	if command == "" || h == nil {
		panic(fmt.Sprintf("mp: kind %q: Handle needs a command name and a handler", k.name))
	}
	if frontendReady.Load() {
		panic(fmt.Sprintf("mp: kind %q: command %q registered after mp.Init: a backend runs Init before main goes on, so it would never have this handler; register handlers at package level (in the kind's var declaration or an init function)", k.name, command))
	}
	if _, dup := k.handlers[command]; dup {
		panic(fmt.Sprintf("mp: kind %q: command %q registered twice", k.name, command))
	}
	k.handlers[command] = h
	return k
}

// Name returns the kind's registered name.
func (k *Kind[B]) Name() string { return k.name }

// Start starts a backend of this kind, waits until its pre-run hook has
// run, and returns the frontend's handle on it. ctx bounds the start only:
// if it ends before the backend is ready, the backend is killed and Start
// returns ctx's cause; once Start has returned, ctx no longer matters, and
// the process runs until Close, Shutdown or its own end.
//
// Start fails with an error wrapping ErrUnknownKind, os.ErrInvalid (a bad
// Options field or name), ErrParam or ErrFrameTooLarge (Options.Params
// that cannot be sent: no process is started), ErrNoInit (the program's
// main does not call Init), the backend's *RemoteError (its pre-run hook failed) or
// ErrBackendDied (it exited before it was ready).
func (k *Kind[B]) Start(ctx context.Context, opts Options) (*Process, error) {
	return start(ctx, k.name, opts)
}

// PreRunner is implemented by backend states that need a start-up hook. PreRun
// runs in the child after the re-exec, before the first message is handled:
// the place to start goroutines, load heavy libraries and map shared memory.
// An error ends the backend before its loop; the frontend sees it from Wait.
type PreRunner interface {
	PreRun(ctx context.Context) error
}

// PostRunner is implemented by backend states that need a shutdown hook.
// PostRun runs in the child after the loop ends, however it ended (a stop
// request, the frontend gone, SIGTERM, a handler panic): the place to release
// what PreRun acquired.
type PostRunner interface {
	PostRun() error
}

// run is the body of the child: build the state, run the hooks and the loop.
func (k *Kind[B]) run(be *Backend) int {
	var b *B
	if err := be.protect(protected{what: "new backend"}, func() error { b = k.newBackend(be); return nil }); err != nil {
		return be.fatal(CodeFatal, "", err)
	}
	if pr, ok := any(b).(PreRunner); ok {
		be.log.Debug("pre-run")
		if err := be.protect(protected{what: "pre-run"}, func() error { return pr.PreRun(be.ctx) }); err != nil {
			be.postRun(b)
			return be.fatal(CodeFatal, "", fmt.Errorf("pre-run: %w", err))
		}
	}
	// Start waits for this frame: it goes out even after SIGTERM has
	// cancelled be.ctx, as a reply does (lastChance).
	ctx, cancel := lastChance(be.ctx)
	err := be.conn.write(ctx, &frame{kind: kindReady})
	cancel()
	if err != nil {
		be.postRun(b)
		return exitOK // the frontend is gone already
	}
	// Bind the handlers to this process's state once, not per message.
	bound := make(map[string]func(context.Context, Message) error, len(k.handlers))
	for cmd, h := range k.handlers {
		bound[cmd] = func(ctx context.Context, m Message) error { return h(b, be, ctx, m) }
	}
	code := be.serve(bound, slices.Sorted(maps.Keys(k.handlers)))
	be.postRun(b)
	return code
}

// runner is what the registry holds: a kind, whatever its state type.
type runner interface {
	run(be *Backend) int
}

// registry is the one piece of global state: backend kinds by name.
var registry = kindRegistry{kinds: map[string]runner{}}

type kindRegistry struct {
	mu    sync.Mutex
	kinds map[string]runner
}

func (r *kindRegistry) add(name string, k runner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		panic("mp: NewKind needs a name")
	}
	if _, dup := r.kinds[name]; dup {
		panic(fmt.Sprintf("mp: backend kind %q registered twice", name))
	}
	r.kinds[name] = k
}

func (r *kindRegistry) get(name string) (runner, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.kinds[name]
	return k, ok
}
