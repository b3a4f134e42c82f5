// Package manager runs many worker processes of one program and keeps them
// running: the Go counterpart of the original tutorial's MainContext, with
// the supervision of an Erlang/OTP supervisor.
//
// A Manager starts Config.Workers workers in parallel (at most
// Config.StartConcurrency at a time), and then runs one loop, on one
// goroutine, that sees everything: the messages of every worker, tagged with
// the worker that sent them; the end of every task; every worker's exit;
// timers; and any channel the program adds with Watch. All callbacks run on
// that loop, so the program's own state needs no locks.
//
//	m, err := manager.New(manager.Config{
//		Workers: 5,
//		Start: func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
//			return workers.Start(ctx, mp.Options{Name: w.Name()})
//		},
//		OnMessage: func(w *manager.Worker, msg mp.Message) { ... },
//	})
//	m.Submit(manager.Task{Name: "job-1", Timeout: time.Minute, Do: ..., Done: ...})
//	err = m.Run(ctx) // until ctx ends, or the restart intensity is reached
//
// # Work
//
// Idle workers wait in a pool, first in, first out. Submit queues a Task;
// the loop hands it to the next idle worker and runs its Do function on a
// goroutine of its own (typically a typed command's Call). A task with a
// Timeout that runs past it has its worker stopped (Process.Shutdown: the
// stop ladder) and replaced, and fails with ErrTaskTimeout.
//
// # Failures
//
// Nothing waits forever on a dead worker. When a worker exits unasked
// (killed, crashed, out of memory), the calls waiting on it fail at once,
// the loop reports its name, PID and exit status, and the task it was
// running fails with a *TaskError wrapping ErrWorkerDied. The worker is
// then restarted according to its Restart type (Config.Restart, or per
// worker Config.RestartOf), the terms of OTP: Permanent (always),
// Transient (only after an abnormal exit) or Temporary (never), after a
// backoff that doubles with each consecutive restart. More
// than Config.MaxRestarts restarts within Config.Period stop everything:
// Run returns an error wrapping ErrRestartIntensity that names the worker
// and how it last ended.
//
// # Stopping
//
// When Run's context ends, every worker is stopped in parallel, each with
// Process.Shutdown bounded by Config.ShutdownTimeout; a worker running a
// task gets SIGTERM at once, which cancels its handler's context, instead
// of being waited for. When Config.Force is closed (a second Ctrl-C, see
// Signals), the workers still running are killed at once. Run returns once
// every worker it started has exited: none is left behind. Workers do not
// act on Ctrl-C themselves (mp's backends leave SIGINT to their frontend),
// so the manager alone decides.
//
// A test runs the manager for a while and stops it: go m.Run(ctx), then
// cancel ctx.
package manager
