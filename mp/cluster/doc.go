// Package cluster carries mp's typed commands across hosts, over NATS
// JetStream: a program submits a request of an mp.Command as a task, and a
// worker on any host that reaches the same NATS server hands it to one of
// its local mp backends with that very command, so a handler registered with
// mp.HandleCommand runs unchanged, in an mp backend, wherever a worker runs.
//
// A Client submits tasks (Submit, Call) and receives their results; a
// Worker pulls tasks and runs them on the workers of an mp/manager Manager:
//
//	// every host: the same command and handler as a local program
//	var square = mp.NewCommand[Num, Num]("square")
//
//	// a worker host
//	w := cluster.NewWorker(nc, cluster.Config{}, cluster.WorkerOptions{})
//	cluster.Serve(w, square)
//	err := w.Run(ctx, m) // m: a *manager.Manager of local backends
//
//	// the submitter
//	c, err := cluster.NewClient(ctx, nc, cluster.Config{})
//	resp, err := cluster.Call(ctx, c, square, Num{N: 7})
//
// Package embedded starts a NATS server inside the program, so that nothing
// needs to be installed to try it.
//
// # Delivery
//
// Tasks go to a JetStream work-queue stream, one subject per command name
// (<prefix>.task.<command>) and one durable pull consumer per command, the
// shape a work-queue stream allows (one consumer per subject, explicit acks).
// The task ID is the message's Nats-Msg-Id, so a publish retried after a
// timeout is stored once.
//
// A worker acknowledges a task only after its result is stored, and sends
// InProgress while the task waits for a local worker and while it runs, so
// a long task is not redelivered. A task whose worker host dies or
// disconnects is redelivered after Config.AckWait to another worker; a task
// whose backend died (a crash, a panic, a kill) is handed back at once. So a
// task runs at least once, and may run more than once: **handlers must be
// idempotent** (running a task twice must leave the same effect as running it
// once: write a result under the task's ID rather than append it, for
// example). The result, however, reaches the submitter exactly once per
// task ID: results are stored with the task ID as their Nats-Msg-Id, and the
// client delivers the first one it sees and drops any later one. Each client
// reads its results through a pull consumer of its own, with the streams'
// Config.Replicas and explicit acks, so that it goes on through another node
// when one goes; Client.Close removes it (the server does after 5 minutes
// without the client: a client that comes back after that creates it
// again, and reads its results from the start of the stream). A server
// that comes back without its storage, or an operator who deletes a stream
// or a consumer, is met the same way: the workers make the streams and
// their task consumers again, a Submit the streams, a client its results
// consumer. A client looks its pending tasks up when it finds that a
// stream was made again, or the task stream deleted or purged (it asks
// about the task stream every 2 s while a task is pending; one request,
// whatever the number of tasks): a Wait whose task is still queued or
// running, or whose result is stored, goes on; one whose task and result
// are both gone ends with ErrLost.
//
// After Config.MaxDeliver attempts a task fails with an error wrapping
// ErrFailed: the worker that saw the last attempt fail reports it. A task
// whose last attempt was lost with its host is delivered once more, after
// AckWait, to whichever host pulls first (one that starts later too), which
// reports it without running it; should that delivery be lost as well
// (JetStream then leaves the message in a work-queue stream for good), the
// workers that run at that moment report and remove it, on the server's
// max-deliveries advisory. A request that
// does not decode as the command's request type (garbage, or a submitter of
// another build) is terminated at once: never redelivered.
//
// # Requests and results
//
// Requests and replies are encoded with CBOR, as mp encodes typed commands
// on its pipes, and decoded with the same rule: a field the receiver does not
// know is an error, not a silent zero (see ErrBadRequest). A request larger
// than the server's maximum payload fails at Submit with ErrTooLarge; a
// reply larger than it fails its task at once with ErrReplyTooLarge (running
// the task again would return the same reply), and a handler's error text is
// cut to a few KiB.
package cluster
