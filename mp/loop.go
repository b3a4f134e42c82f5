package mp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// handlers are a kind's handlers, bound to the backend's state.
type handlers map[string]func(context.Context, Message) error

// serve is the backend's loop: read a command, run its handler, repeat,
// until the frontend closes the command pipe (or dies), SIGTERM arrives, or
// a handler calls Stop. The loop reads the command pipe itself, so a command
// is handled on the goroutine that read it: handing it to another goroutine
// would wake a second thread for every command, which costs more than the
// pipe (docs/benchmarks.md). Cancellations come on a pipe of their own,
// read by a goroutine of their own (backConn.readCancels), so they reach a
// running handler.
func (b *Backend) serve(hs handlers, commands []string) int {
	// From now on Send needs credits, until the command pipe ends;
	// cancellations come on a pipe of their own (see openCommands).
	b.conn.serve()
	// Handlers' contexts derive from b.ctx without its cancellation;
	// SIGTERM cancels the running one's through terminated, and
	// interrupts a read in progress, as Stop does.
	b.runCtx = context.WithoutCancel(b.ctx)
	defer context.AfterFunc(b.ctx, b.terminated)()
	for {
		switch {
		case b.ctx.Err() != nil:
			b.log.Debug("terminated: stopping")
			// The signal's own goroutine announces it too, but the loop,
			// woken by the same signal, may get here first: the frontend
			// must hear why before the exit.
			b.announceEnd(EndTerminated)
			return exitOK
		case b.stopping.Load():
			b.log.Debug("stopped by Stop")
			return exitOK
		}
		fr, err := b.conn.read()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && (b.ctx.Err() != nil || b.stopping.Load()) {
				continue // interrupted: the checks above say why
			}
			b.conn.commandsEnded()
			return b.commandsEnded(err)
		}
		if fr.kind != kindSend && fr.kind != kindCall {
			return b.fatal(CodeBadFrame, "", fmt.Errorf("unexpected frame kind %d on the command pipe: %w", fr.kind, ErrBadFrame))
		}
		if code, panicked := b.dispatch(fr, hs, commands); panicked {
			return code
		}
	}
}

// interruptRead wakes the loop if it is reading the command pipe, for good:
// the loop is ending.
func (b *Backend) interruptRead() { b.conn.interrupt() }

// terminated runs once b.ctx ends (SIGTERM): it cancels the running
// handler's ctx and wakes the loop if it is reading the command pipe.
func (b *Backend) terminated() {
	b.interruptRead()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cancelRun != nil {
		b.cancelRun()
	}
}

// cancel cancels call id: its handler's ctx if it runs, or the call itself
// if it has not started (calls come in the order of their ids, see
// frontConn.call, so a call that ended is simply ignored).
func (b *Backend) cancel(id uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case id == b.current.Load() && b.cancelRun != nil:
		b.log.Debug("call cancelled by its caller", "id", id)
		b.cancelRun()
	case id > b.started:
		b.cancelled[id] = struct{}{}
	}
}

// commandsEnded says why the command pipe ended (err is the read's error),
// and the exit code for it.
func (b *Backend) commandsEnded(err error) int {
	switch {
	case errors.Is(err, io.EOF):
		b.log.Debug("command pipe closed: stopping")
		return exitOK
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The frontend closed the pipe half way through a frame: it was
		// stopped (or died) while a send was going out.
		b.log.Warn("command pipe closed inside a frame: stopping")
		return exitOK
	case errors.Is(err, ErrFrameTooLarge):
		return b.fatal(CodeFrameTooLarge, "", err)
	case errors.Is(err, ErrBadFrame):
		return b.fatal(CodeBadFrame, "", err)
	}
	return b.fatal(CodeFatal, "", fmt.Errorf("reading commands: %w", err))
}

// dispatch runs the handler of one frame and reports its outcome.
func (b *Backend) dispatch(fr frame, hs handlers, commands []string) (int, bool) {
	m := Message{Command: fr.command, Params: fr.params, id: fr.id}
	// Each handler gets its own ctx, cancelled when b.ctx ends (SIGTERM),
	// when the caller of this call gives up (cancel), and when the handler
	// returns. It is not registered in b.ctx, which would cost a lock and
	// a map entry per command: terminated cancels it through cancelRun,
	// or, if b.ctx ended before cancelRun was set, the check below does.
	ctx, cancel := context.WithCancel(b.runCtx)
	defer cancel()
	b.mu.Lock()
	_, gaveUp := b.cancelled[fr.id]
	delete(b.cancelled, fr.id)
	if fr.id != 0 {
		b.started = fr.id
	}
	b.current.Store(fr.id)
	b.cancelRun = cancel
	b.mu.Unlock()
	if b.ctx.Err() != nil {
		cancel()
	}
	defer func() {
		b.mu.Lock()
		b.cancelRun = nil
		b.mu.Unlock()
	}()
	b.replyMu.Lock()
	b.replied = false
	b.replyMu.Unlock()
	// What dispatch writes answers a frontend that waits for it: it goes
	// out even after SIGTERM has cancelled b.ctx (bounded by lastChance).
	write := func(out *frame) {
		b.beforeReply()
		ctx, cancel := lastChance(b.ctx)
		defer cancel()
		if err := b.conn.write(ctx, out); err != nil {
			b.log.Debug("could not report to the frontend", "command", fr.command, "err", err)
		}
	}
	if gaveUp {
		// Its caller is gone, but the empty reply tells the frontend
		// that the call no longer holds the backend (WaitAbandoned).
		b.log.Debug("call given up by its caller before it started", "command", fr.command, "id", fr.id)
		write(&frame{kind: kindReply, id: fr.id})
		return 0, false
	}
	h, ok := hs[fr.command]
	if !ok {
		b.log.Warn(fmt.Sprintf("unknown command %q ignored (known: %s)", fr.command, strings.Join(commands, ", ")))
		if m.IsCall() {
			write(&frame{kind: kindReply, id: fr.id, code: CodeUnknownCommand, command: fr.command})
		}
		return 0, false
	}
	panicked, err := b.run(ctx, h, m)
	defer b.conn.writeGathered() // what the handler sent goes out now
	// The handler has returned: a Reply from now on is late (Reply), and
	// the reply slot is ours unless the handler replied.
	b.replyMu.Lock() // waits for a Reply being written
	b.current.Store(0)
	mine := m.IsCall() && !b.replied
	b.replied = true
	b.replyMu.Unlock()
	switch {
	case panicked:
		return b.fatal(CodePanic, fr.command, err), true
	case err != nil && mine:
		write(&frame{kind: kindReply, id: fr.id, code: CodeHandler, command: fr.command, errText: causeText(err, b.name), params: sentinelParams(err)})
	case err != nil && m.IsCall():
		b.log.Warn(fmt.Sprintf("handler %q failed after it replied: %v", fr.command, err))
	case err != nil:
		b.log.Error(fmt.Sprintf("handler %q failed: %v", fr.command, err))
		write(&frame{kind: kindError, code: CodeHandler, command: fr.command, errText: causeText(err, b.name), params: sentinelParams(err)})
	case mine:
		write(&frame{kind: kindReply, id: fr.id})
	}
	return 0, false
}

// run runs handler h on m, turning a panic into an error, as protect
// does (without a closure for each command).
func (b *Backend) run(ctx context.Context, h func(context.Context, Message) error, m Message) (panicked bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			panicked, err = true, b.recovered(protected{"handler", m.Command}, v)
		}
	}()
	return false, h(ctx, m)
}
