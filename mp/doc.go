// Package mp runs parts of a Go program in backend processes and talks to
// them: messages, calls with replies, events to wait on, shared memory, and a
// shutdown that leaves nothing behind.
//
// A backend is the same binary, re-executed (Go cannot fork). What it should
// become travels in its environment; its pipes, its events and the eventfd
// through which the frontend grants it room for more messages (flow
// control: credits) travel as extra file descriptors, so both processes
// keep stdout for themselves. Every program using mp therefore calls Init
// first in main:
//
//	func main() {
//		mp.Init() // in a backend: runs it, then exits; in the frontend: returns
//		...
//	}
//
// # Front and back
//
// A process has two sides, and each is its own Go type. The backend side is
// your state type B, built only in the child, plus the *Backend it is given
// for logging, sending and setting events. Its handlers are registered on a
// Kind by command name:
//
//	type counter struct {
//		*mp.Backend
//		n int
//	}
//
//	func (c *counter) add(ctx context.Context, m mp.Message) error {
//		k, err := m.Params.Int("k")
//		if err != nil {
//			return err
//		}
//		c.n += k
//		return c.Reply(ctx, m, "sum", mp.Params{"n": c.n})
//	}
//
//	var counters = mp.NewKind("Counter", func(b *mp.Backend) *counter { return &counter{Backend: b} }).
//		Handle("add", (*counter).add)
//
// The frontend side is a *Process, returned by Kind.Start. It has no B in it:
// the compiler keeps backend state out of frontend code. Wrap it in a type of
// your own to give the frontend methods names:
//
//	p, err := counters.Start(ctx, mp.Options{Name: "counter-1"})
//	reply, err := p.Call(ctx, "add", mp.Params{"k": 2})
//	err = p.Close()
//
// # Messages
//
// Process.Send sends a Message (a command and Params) and returns;
// Process.Call also waits for the reply. The backend handles messages one at
// a time, in order. What the backend sends on its own (Backend.Send) arrives
// on the Process.Messages channel, which a frontend reads in a select beside
// its other channels: timers, signals, a listener, other processes. A
// goroutine that waits for the backend alone receives with Process.Recv
// instead (Python's Connection.recv), which reads the pipe itself, as a Call
// does, and returns io.EOF once the backend has exited.
//
// Replies never wait behind messages: what the backend sends is
// flow-controlled (it may send four times Options.MessageBuffer messages
// beyond what the frontend has read), and a frame goes out whole or not at
// all. A Call whose ctx ends cancels its handler's ctx in the backend. A
// call travels on one thread per side: the backend's loop reads the command
// pipe itself and runs the handler, and a Call reads its own reply. Every
// reader polls its pipe for a few microseconds before it sleeps, which
// made a Call 3.2 to 5.2 times faster in quiet runs on a machine where
// waking a thread is slow (5.4–7.2 µs against 23.3–28.0 µs with polling
// off: docs/benchmarks.md in the repository, "The message path's targets
// after the corrections"); MP_SPIN=0 turns polling off.
//
// Messages are framed on the pipe; a frame is at most MaxFrameSize bytes.
// Bulk data belongs in shared memory: package mp/shm makes arrays that a
// frontend and its backends map, by name or as a file in Options.Files.
//
// # Typed commands
//
// Params suit a few scalars. A Command gives a command Go types for its
// request and its reply, checked by the compiler on both sides; structs,
// slices and maps travel (encoded with CBOR, with decoding limits):
//
//	var work = mp.NewCommand[WorkReq, WorkResp]("work")
//	func init() { mp.HandleCommand(workers, work, (*worker).work) } // backend
//	resp, err := work.Call(ctx, p, WorkReq{N: 3})                  // frontend
//
// A Report is the same for what a backend sends on its own.
//
// Many workers are the business of package manager
// (github.com/mpgo/mp/mp/manager): a pool, tasks with timeouts, restarts,
// and a shutdown that leaves nothing behind.
//
// # Events
//
// An Event is a flag both sides share, as in Python's multiprocessing: the
// frontend makes one with Process.NewEvent (Options.Events says how many may
// be open at once), sends its ID, and waits; the backend takes its side with
// Backend.Event and sets it. A wait ends with an error when the other side
// is gone or the context ends, never hanging.
//
// # Stopping, and dying
//
// Process.Close closes the command pipe, and escalates to SIGTERM and SIGKILL
// if the backend does not exit in time: the stop ladder, whose rungs (the
// closed pipe, SIGTERM, SIGKILL) are each Options.StopTimeout apart. A
// backend also exits when its frontend dies: the command pipe reaches EOF,
// and the kernel sends the parent-death signal if the frontend was killed
// outright. Every backend's argv[0] starts with "mp:" so tools find exactly
// ours.
//
// # Errors
//
// An operation that fails returns an *Error, in the manner of os.PathError:
// the operation, the process name and the cause, e.g. `mp: worker-3: call
// "work": backend died: …`. Causes wrap sentinels (ErrStopped,
// ErrBackendDied, ErrFrameTooLarge, …) for errors.Is; failures that happened
// in the backend arrive as *RemoteError.
package mp
