package mp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// backConn is the backend's end of a connection (conn.go): it reads
// commands on the loop's own thread (spinReader in blocking mode: spin.go,
// block.go), reads cancellations on a goroutine of their own, writes
// replies, messages (gathered: gather.go) and reports, and spends a credit
// on each message (credits.go).
type backConn struct {
	cmds      *os.File
	cmdSpin   *spinReader  // the command pipe's reader, once openCommands ran
	cmdReader *frameReader // cmdSpin's frames
	out       *frameWriter
	credits   *credits // messages send may still send
	cancels   *os.File
}

// newBackConn makes the backend's end of a connection: cmds must be
// non-blocking; out, credits and cancels are read or written through the
// runtime's poller. The backend may send window messages before it gets
// credits back.
func newBackConn(cmds, out, credits, cancels *os.File, window int) *backConn {
	c := &backConn{
		cmds:    cmds,
		out:     newFrameWriter(out),
		credits: newCredits(window, credits),
		cancels: cancels,
	}
	c.out.gatherMessages()
	c.credits.beforeWait = c.out.writeGathered
	return c
}

// commandPipe returns the command pipe, non-blocking but outside the
// runtime's poller: the loop waits for commands on its own thread, in
// read(2) (see spinReader.blocking). In the poller too, every command would
// also wake the thread that waits there.
func commandPipe() *os.File {
	f := os.NewFile(fdCommands, "mp-commands") // blocking yet: not polled
	unix.SetNonblock(fdCommands, true)
	return f
}

// openCommands prepares the command pipe's reader: read blocks its thread
// in read(2) once polling gives up, until interrupt (plainread.go). It
// starts the reader of the cancel pipe too, which the command pipe's reader
// needs from its first read: the frontend says there that it closed the
// command pipe. Each cancel frame calls cancel with its call's id.
func (c *backConn) openCommands(log *slog.Logger, cancel func(id uint64)) error {
	sr, err := newSpinReader(c.cmds)
	if err == nil {
		err = sr.blocking()
	}
	if err != nil {
		return err
	}
	c.cmdSpin = sr
	c.cmdReader = newFrameReader(sr, MaxFrameSize)
	go c.readCancels(log, cancel)
	return nil
}

// read reads the next frame of the command pipe: io.EOF once the frontend
// closed it, os.ErrDeadlineExceeded once interrupt was called.
func (c *backConn) read() (frame, error) { return c.cmdReader.read() }

// interrupt wakes read if it waits for a command, for good: the loop is
// ending.
func (c *backConn) interrupt() {
	if c.cmdSpin != nil {
		c.cmdSpin.interrupt()
	}
	c.cmds.SetReadDeadline(longAgo)
}

// write writes fr to the message pipe (see frameWriter.write).
func (c *backConn) write(ctx context.Context, fr *frame) error { return c.out.write(ctx, fr) }

// send spends a credit and writes fr, a message (see credits.take). A
// message that does not go out (not encodable, too large, ctx ended before
// it started) gives its credit back: the frontend, which returns one per
// message delivered, never would.
func (c *backConn) send(ctx context.Context, fr *frame) error {
	if err := c.credits.take(ctx); err != nil {
		return err
	}
	err := c.out.write(ctx, fr)
	if err != nil && !errors.Is(err, errRestFollows) {
		c.credits.refund()
	}
	return err
}

// writeGathered writes the messages gathered so far (gather.go).
func (c *backConn) writeGathered() { c.out.writeGathered() }

// flushForExit writes what is still going out, or gathered, to the
// message pipe and keeps it from taking anything more (frameWriter.seal),
// before the backend exits; it gives up after d, for a frontend that no
// longer reads.
func (c *backConn) flushForExit(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan struct{})
	go func() {
		c.out.seal(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// serve says that the loop runs: from now on send waits for credits, until
// commandsEnded.
func (c *backConn) serve() { c.credits.prerun.Store(false) }

// commandsClosed says that the frontend has closed its end of the command
// pipe: a read blocked on it ends once the frames before the close are read
// (see plainPipe.peerClosed).
func (c *backConn) commandsClosed() {
	if c.cmdSpin != nil {
		c.cmdSpin.peerClosed()
	}
}

// commandsEnded makes credits free: the command pipe ended, so the
// frontend is stopping us or it is gone (see credits.close).
func (c *backConn) commandsEnded() { c.credits.close() }

// readCancels reads the cancel pipe until it ends (the frontend stops, or
// is gone): each frame cancels one call, at once.
func (c *backConn) readCancels(log *slog.Logger, cancel func(id uint64)) {
	defer c.cancels.Close()
	rd := newFrameReader(c.cancels, 1<<10)
	// Either end of the cancel pipe's frames says that the frontend has
	// closed its end of the command pipe (or is gone).
	defer c.commandsClosed()
	for {
		fr, err := rd.read()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				log.Debug("cancel pipe", "err", err)
			}
			return
		}
		switch fr.kind {
		case kindCancel:
			cancel(fr.id)
		case kindCommandsClosed:
			c.commandsClosed()
		}
	}
}
