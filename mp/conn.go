package mp

import "os"

// A connection joins a frontend and its backend: three pipes and an
// eventfd, which both sides use through an end of their own (frontConn in
// the frontend, backConn in the backend). The Process and the Backend
// decide when to start, stop and exit; the connection carries frames:
//
//   - the command pipe, frontend → backend: Send and Call, written whole by
//     a frameWriter (pipe.go), read by the backend's loop on its own thread
//     (spin.go, block.go); its end tells the backend to stop;
//   - the message pipe, backend → frontend: replies, messages, and what the
//     backend reports about itself; read by a Call waiting for its reply or
//     by the frontend's reader goroutine (msgpipe.go, route.go);
//   - the credits' eventfd, frontend → backend: flow control of messages
//     (credits.go);
//   - the cancel pipe, frontend → backend: a Call given up, beside the
//     commands so that it never waits behind them (conn_call.go).
//
// Frames are encoded and decoded by codec.go.

// File descriptors of a backend: the connection (the command and message
// pipes, the credits, the cancel pipe), then the events' eventfds and
// their page, then the caller's extra files.
const (
	fdCommands = 3 // frontend → backend frames; EOF means "stop"
	fdMessages = 4 // backend → frontend frames
	fdCredits  = 5 // eventfd: messages the backend may send (credits.go)
	fdCancels  = 6 // frontend → backend cancel frames, beside the commands
	fdFirst    = 7 // first event, then Options.Files
)

// startPipes are the three pipes of a connection: commands down, messages
// up, and cancellations down beside the commands. os.Pipe sets
// close-on-exec, so no other child inherits them.
type startPipes struct {
	cmdR, cmdW, outR, outW, cancR, cancW *os.File
}

func openPipes(undo *undoList) (ps startPipes, err error) {
	for _, pair := range []struct{ r, w **os.File }{{&ps.cmdR, &ps.cmdW}, {&ps.outR, &ps.outW}, {&ps.cancR, &ps.cancW}} {
		r, w, err := os.Pipe()
		if err != nil {
			return ps, err
		}
		undo.add(func() { r.Close(); w.Close() })
		*pair.r, *pair.w = r, w
	}
	return ps, nil
}

// closeChildEnds closes our copies of the child's ends once it runs: then
// only the child holds them, so its death is an EOF on outR and an EPIPE
// on cmdW.
func (ps startPipes) closeChildEnds() {
	ps.cmdR.Close()
	ps.outW.Close()
	ps.cancR.Close()
}
