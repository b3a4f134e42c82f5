package mp

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// Process is the frontend's handle on a running backend process: what the
// parent uses to send to the child, call it, wait on its events, read its
// messages and stop it. Its methods are safe for concurrent use.
type Process struct {
	kind, name  string
	log         *slog.Logger
	cmd         *exec.Cmd
	conn        *frontConn  // the transport (conn_front.go)
	sawReady    bool        // the backend reported ready; only with the pipe's token
	events      *eventSlots // nil without Options.Events
	stopTimeout time.Duration

	state      atomic.Int32
	mu         sync.Mutex
	remote     error           // fatal error reported by the backend
	endReason  EndReason       // why it ends (ending.go)
	ending     chan struct{}   // closed with the first endReason
	killed     bool            // the stop ladder reached SIGKILL
	killedBy   error           // the Shutdown ctx's cause, if that is why
	killedRung lastRung        // otherwise, how the ladder came to SIGKILL
	termAt     time.Time       // when Signal first sent SIGTERM (the ladder's second rung then)
	stopping   chan struct{}   // closed by CloseSend
	exited     context.Context // cancelled when the child has exited
	setExit    context.CancelFunc
	ready      chan struct{} // closed when the backend reports its pre-run done
	done       chan struct{} // closed once the exit is fully accounted for
	exitErr    error

	reqOnce, ladderOnce, killOnce sync.Once
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
	defaultMessageBuffer = 256
	// creditsPerBuffer is how many messages a backend may send beyond
	// what the frontend has read, per slot of Options.MessageBuffer: the
	// frontend gives credits back a buffer's worth at a time, and a window
	// of four buffers keeps a fast sender from waiting for each batch (a
	// window of one buffer halved the manager's fan-in).
	creditsPerBuffer = 4
	maxMessageBuffer = 1 << 16
)

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

// Messages returns the channel on which messages sent by the backend
// (Backend.Send) arrive, in order. It is closed after the backend has exited
// and the messages it sent have been delivered. Read it: once the channel's
// buffer (Options.MessageBuffer) and four times as many messages wait, the
// backend's Send blocks until they are read (in a pre-run hook, it fails
// with ErrQueueFull instead: nothing is read before Start returns). Replies to
// calls never wait behind unread messages. Once CloseSend or Close has
// been called, messages that do not fit in the channel's buffer are dropped
// instead (the first with a warning, the rest counted in a second one), so
// that a backend can always be stopped: read what you need before stopping.
// Messages of a backend that exited on its own are kept until they are read
// or Close is called.
func (p *Process) Messages() <-chan Message { return p.conn.messages() }

// Recv waits for the next message the backend sends on its own
// (Backend.Send) and returns it, as Python's Connection.recv does: the
// message a receive from Messages would get, for a goroutine that waits for
// this backend alone (Messages suits a select beside other channels). Recv,
// Messages and Call may be used from several goroutines at once; each
// message goes to one receiver. A Recv costs less than a receive from
// Messages: it reads the pipe itself when no Call does, as a Call reads
// its reply, instead of being handed the message by another goroutine.
//
// Recv returns io.EOF once the backend has exited (Err says how) and the
// messages it sent have been received, or dropped: after CloseSend or
// Close, messages that do not fit in Messages' buffer are dropped (see
// Messages), so receive what you need before stopping. If ctx ends first,
// Recv returns an *Error (Op "recv") wrapping ctx's cause, and a message
// that came meanwhile waits for the next receive.
func (p *Process) Recv(ctx context.Context) (Message, error) {
	m, err := p.conn.recv(ctx)
	if err != nil && err != io.EOF {
		return Message{}, opError("recv", p.name, err)
	}
	return m, err
}

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
