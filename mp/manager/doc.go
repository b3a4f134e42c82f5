// Package manager runs many worker processes of one program and keeps them
// running: the Go counterpart of the original tutorial's MainContext, with
// the supervision of an Erlang/OTP supervisor.
//
// A Manager starts Config.Workers workers in parallel (at most
// Config.StartConcurrency at a time), and then runs one loop, on one
// goroutine, that sees everything: the messages of every worker, tagged with
// the worker that sent them; the end of every task; every worker's exit;
// timers; and any channel the program adds with Watch. All callbacks run on
// that loop, so the program's own state needs no locks. A callback must not
// wait for a worker: while it runs, the loop takes no messages, so a worker
// that sends meanwhile waits for the loop, and a Call to it waits forever
// (the manager warns after Config.StillAlive). Call from a goroutine and
// bring the answer back with Watch.
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
// Each worker is in one state at a time (Starting, Idle, Busy, Stopping,
// Exited), changed only by the loop and logged at debug level. Idle workers
// wait in a pool, first in, first out; only a worker whose process is alive
// and idle takes a task. Submit queues a Task; the loop hands it to the
// next idle worker and runs its Do function on a goroutine of its own
// (typically a typed command's Call). When Do returns, the worker goes back
// to the pool only if its process is not ending: a backend announces its
// end (Backend.Stop, SIGTERM) before the reply that follows, so the manager
// knows from the process itself (mp.Process.Ending), never from the wording
// of an error; an idle worker that announces its end leaves the pool at
// once. Nor does it go back while a call its task gave up on (a deadline
// of Do's own) still runs in the backend (mp.Process.WaitAbandoned): it
// waits for the answer, up to Config.ShutdownTimeout, then is stopped and
// replaced. A task with a Timeout that runs past it has its worker stopped
// (SIGTERM, then the stop ladder) and replaced, and fails with
// ErrTaskTimeout. Once no worker is left and none will be started again
// (transient or temporary workers), queued tasks fail with ErrNoWorkers
// instead of waiting for ever, and Submit refuses new ones with it. A
// panic in Do is recovered, as net/http recovers a handler's: its task
// ends with a *PanicError, and the worker goes on. A panic in Done or in a
// callback, which run on the loop, is not: it ends the program.
//
// # Exits and restarts
//
// Nothing waits forever on a dead worker. When a worker's process exits
// without the manager stopping it, the calls waiting on it fail at once,
// the task it was running fails with a *TaskError wrapping ErrWorkerDied,
// and OnExit receives an ExitReport. What happens next depends on how it
// ended and on its Restart type (Config.Restart, or per worker
// Config.RestartOf), in the terms of OTP:
//
//   - it ended itself (Backend.Stop, exit status 0: a worker that recycles
//     itself after a number of tasks): no failure; a permanent worker is
//     replaced at once, or after a backoff if it took no task (one that
//     ends itself as it starts would otherwise start again and again);
//   - something outside the manager terminated it (SIGTERM, exit status 0):
//     no failure; a permanent worker is replaced after Config.Backoff, unless
//     the manager stops meanwhile (systemctl stop signals every process);
//   - anything else (a signal, another status, a panic, an exit without
//     saying why) is a failure: logged as an error, counted against the
//     restart intensity, and a permanent or transient worker is restarted
//     after a backoff that doubles with each consecutive failure.
//
// A worker the manager stopped itself (a task timeout) did not fail either:
// it is replaced at once, unless temporary. So is a worker that announced
// its end but has not exited Config.ShutdownTimeout later (a PostRun that
// hangs): the manager stops it, with the stop ladder. More than Config.MaxRestarts
// failures within Config.Period (a restart that fails counts too) stop
// everything: Run returns an error wrapping ErrRestartIntensity that names
// the worker and the cause. Each start is bounded by Config.StartTimeout.
//
// What a task's handler starts (a tool run with os/exec) is in its worker's
// process group, which ends with the worker: see package mp.
//
// # Stopping
//
// When Run's context ends, every worker is stopped in parallel, each with
// Process.Shutdown bounded by Config.ShutdownTimeout; a worker running a
// task, or a call its last task gave up on, gets SIGTERM at once, which
// cancels its handler's context, instead of being waited for. A worker that
// fails on its own, just before the stop or during it (its handler
// panicked, on the stop's SIGTERM too), is not taken for stopped: its task
// fails with ErrWorkerDied, and the log and OnExit report the failure,
// without a restart. When Config.Force is closed (a second Ctrl-C, see
// Signals), the workers still running are killed at once. Run returns once
// every worker it started has exited: none is left behind. It waits for the
// Do functions of running tasks up to ShutdownTimeout after that, saying
// which, and not at all once Force is closed. Workers run in process groups
// of their own, so a Ctrl-C in a terminal reaches the manager alone, and
// the manager alone decides.
//
// Messages the workers sent still reach OnMessage during the stop, and
// values of watched channels their function, until ShutdownTimeout has
// passed since it began or Force is closed; the ones left are then
// dropped, and a warning says how many. So slow callbacks with a flood of
// messages behind them cannot hold Run past its bound.
// (A stopping process also drops the messages that do not fit in its
// Messages buffer while the loop is behind, and its log says so: see
// mp.Process.Messages.)
//
// A test runs the manager for a while and stops it: go m.Run(ctx), then
// cancel ctx.
package manager
