package mp

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/spin"
	"golang.org/x/sys/unix"
)

// The frontend's end of a message pipe is read by whichever goroutine needs
// it. A Call that has just sent its command reads the pipe itself, polling
// it for its reply and routing whatever comes before it; the process's
// reader goroutine reads it the rest of the time. Handing a reply from one
// goroutine to another wakes a second thread, and on a virtual machine that
// costs more than the pipe (docs/benchmarks.md): with a caller that reads
// its own reply, one thread on each side carries a call.
//
// A token says who reads: only its holder uses the frame reader. The reader
// goroutine holds it while it drains the pipe, frame after frame, and lets
// it go only once the pipe is empty; it then waits for data without the
// token, in the runtime's poller (which wakes it when more data comes), so
// a Call can take the token while the reader goroutine waits, not while it
// drains (the Call then waits for the reader goroutine to route its
// reply). A Call reads only frames that are whole in the pipe (see
// nextWhole), so that it never waits for the rest of one past its ctx; the
// reader goroutine reads larger frames, waiting for their rest.
// A caller that lets the token go with data left in the pipe wakes the
// reader goroutine, which may have seen that data come while the token was
// held and gone back to wait.
type msgPipe struct {
	f      *os.File
	rc     syscall.RawConn
	tok    atomic.Bool // held by the goroutine that reads frames
	broken atomic.Bool // bad data came: nothing more is read as frames
	rd     *frameReader
	src    *pipeSource // rd's source: the descriptor and its polling window

	// While Calls read the pipe, the reader goroutine rests aside (see
	// rest); restMu guards resting and restFd, the eventfd that ends it.
	restMu  sync.Mutex
	resting atomic.Bool
	restFd  int
}

func newMsgPipe(f *os.File) (*msgPipe, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	// Not f.Fd(), which would make the pipe blocking.
	src := &pipeSource{spin: newSpinner()}
	if err := rc.Control(func(fd uintptr) { src.fd = int(fd) }); err != nil {
		return nil, err
	}
	return &msgPipe{f: f, rc: rc, src: src, rd: newFrameReader(src, MaxFrameSize), restFd: -1}, nil
}

// errNoData says that the pipe holds no frame yet (see msgPipe.next).
var errNoData = errors.New("no frame in the pipe yet")

// pipeSource reads the pipe for the frame reader, without the runtime's
// poller (the goroutine that reads changes; see msgPipe).
type pipeSource struct {
	fd    int
	fresh bool     // the next read starts a frame: an empty pipe is errNoData
	spin  *spinner // told when data arrives
}

// Read reads into p. Between frames it returns errNoData when the pipe is
// empty; inside a frame it waits for the rest, which the backend is writing
// (or for the pipe's end, if it dies).
func (s *pipeSource) Read(p []byte) (int, error) {
	for {
		n, err := readRetry(s.fd, p)
		switch {
		case err == nil && n == 0 && len(p) > 0:
			return 0, io.EOF
		case err == nil:
			s.fresh = false
			s.spin.arrived()
			return n, nil
		case err != unix.EAGAIN:
			return 0, err
		case s.fresh:
			return 0, errNoData
		}
		pfd := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil && err != unix.EINTR {
			return 0, err
		}
	}
}

// take takes the token if no other goroutine holds it.
func (m *msgPipe) take() bool { return m.tok.CompareAndSwap(false, true) }

// next returns the next frame, or errNoData if the pipe is empty between
// frames or bad data came before (broken). Inside a frame it waits, in
// poll(2), for the rest. Only the token's holder calls it.
func (m *msgPipe) next() (frame, error) {
	if m.broken.Load() {
		return frame{}, errNoData
	}
	m.src.fresh = m.rd.r.Buffered() == 0
	return m.rd.read()
}

// errNotWhole says that only part of the next frame has come so far (see
// msgPipe.nextWhole).
var errNotWhole = errors.New("the next frame has not come whole yet")

// nextWhole is next for a Call: it returns errNoData if the pipe is empty
// and errNotWhole if only part of the next frame has come, instead of
// waiting for the rest. Waiting for the rest of a frame (a large one, or one
// whose writer is stopped) a Call could not return when its ctx ends; the
// reader goroutine reads the rest when it comes. The frame's start is
// looked for in the buffer first, so a small frame costs no system call
// more than next. Only the token's holder calls it.
func (m *msgPipe) nextWhole() (frame, error) {
	if m.broken.Load() {
		return frame{}, errNoData
	}
	r := m.rd.r
	if r.Buffered() == 0 {
		m.src.fresh = true
		if _, err := r.Peek(1); errors.Is(err, errNoData) {
			return frame{}, errNoData
		}
		// Data, or the pipe's end or error, which next reports.
	}
	if !m.whole() {
		return frame{}, errNotWhole
	}
	return m.next()
}

// whole reports whether the frame whose start is in the frame reader's
// buffer has come whole (in the buffer, or in the pipe behind it), or has
// a header that next refuses at once.
func (m *msgPipe) whole() bool {
	r := m.rd.r
	buffered := r.Buffered()
	if buffered >= 4 {
		hdr, _ := r.Peek(4)
		if n := binary.LittleEndian.Uint32(hdr); n == 0 || n > uint32(m.rd.max) || buffered >= 4+int(n) {
			return true
		}
	}
	inPipe, err := unix.IoctlGetInt(m.src.fd, unix.TIOCINQ) // FIONREAD
	have := buffered + inPipe
	switch {
	case err != nil || buffered == 0:
		return true // next reports what there is
	case have < 4:
		return false
	}
	m.src.fresh = false
	hdr, err := r.Peek(4) // the bytes are there: no wait
	if err != nil {
		return true // next reports it
	}
	n := binary.LittleEndian.Uint32(hdr)
	return n == 0 || n > uint32(m.rd.max) || have >= 4+int(n)
}

// buffered reports whether frames (or part of one) wait in the frame
// reader's buffer. Only the token's holder calls it.
func (m *msgPipe) buffered() bool { return !m.broken.Load() && m.rd.r.Buffered() > 0 }

// readable reports whether the pipe holds data or has ended.
func (m *msgPipe) readable() bool {
	pfd := []unix.PollFd{{Fd: int32(m.src.fd), Events: unix.POLLIN}}
	n, _ := unix.Poll(pfd, 0)
	return n > 0
}

// letGo gives the token back (see msgPipe), with nothing in the frame
// reader's buffer but, at most, the start of a frame that is not whole yet
// (see whole). If the reader goroutine rests (see rest), letGo ends the
// rest when the pipe holds anything or calls wait for their replies
// (callsWait, asked after the token is let go), and otherwise lets it rest
// on. If the reader goroutine waits in the poller and the pipe holds
// anything (the rest of that frame, other frames, or its end), letGo wakes
// it, as it may have seen that come while the token was held and gone back
// to wait; otherwise what comes next wakes it.
func (m *msgPipe) letGo(callsWait func() bool) {
	m.tok.Store(false)
	// Inside Control, the descriptor stays open: the reader goroutine may
	// take the token at once, meet the pipe's end and close the file.
	m.rc.Control(func(uintptr) {
		switch {
		case m.resting.Load() && (callsWait() || m.readable()):
			m.endRest()
		case m.resting.Load():
			// Calls come one after another: the reader goroutine rests
			// on, restFor at most (see rest).
		case m.readable():
			m.f.SetReadDeadline(longAgo) // wakes the reader goroutine
		}
	})
}

// restFor is how long the reader goroutine rests at most (see rest).
const restFor = spin.Recently

// rest sets the reader goroutine aside while a Call holds the token,
// instead of leaving it in the runtime's poller: there, every reply that the
// Call reads itself would wake it too, and with it a thread. It rests on a
// thread of its own (a blocker, see block.go) for restFor at most: a Call
// that lets the token go ends the rest at once if the pipe holds something
// or other calls wait for a reply; otherwise a message that comes after a
// burst of calls, with no Call to read it, waits restFor at most. It reports
// false, without resting, if it could not take a blocker or a waker.
func (m *msgPipe) rest() bool {
	select {
	case blockers <- struct{}{}:
		defer func() { <-blockers }()
	default:
		return false
	}
	w, err := wakers.get()
	if err != nil {
		return false
	}
	m.restMu.Lock()
	m.restFd = w
	m.resting.Store(true)
	m.restMu.Unlock()
	if m.tok.Load() { // otherwise let go before resting was seen: look again
		waitReadable(context.Background(), w, -1, restFor)
	}
	m.restMu.Lock()
	m.resting.Store(false)
	m.restFd = -1
	m.restMu.Unlock()
	var buf [8]byte
	unix.Read(w, buf[:]) // drained, if endRest wrote it
	wakers.put(w)
	return true
}

// endRest wakes the reader goroutine if it rests.
func (m *msgPipe) endRest() {
	if !m.resting.Load() {
		return
	}
	m.restMu.Lock()
	defer m.restMu.Unlock()
	if m.resting.Load() {
		m.resting.Store(false)
		unix.Write(m.restFd, one[:])
	}
}

// await waits, in the poller, until the pipe has something for the reader
// goroutine to read while no caller holds the token, polling for a moment
// first; it then returns with the token taken and data in the frame
// reader's buffer (or the pipe's end ahead, or the pipe broken by bad
// data: see fill). It returns an error only if the file was closed.
func (m *msgPipe) await() error {
	parkTaken := false
	for {
		park := parkTaken
		parkTaken = false
		mine, taken := false, false
		try := func() bool {
			if !m.take() {
				taken = true // a caller reads: rest aside
				return true
			}
			if mine = m.fill(); !mine {
				m.tok.Store(false)
			}
			return mine
		}
		err := m.rc.Read(func(uintptr) bool {
			// False parks the goroutine until more data comes, or a
			// caller that let the token go wakes it.
			return (try() || m.src.spin.poll(try)) && (mine || taken && !park)
		})
		switch {
		case mine:
			return nil
		case taken && err == nil:
			if !m.rest() {
				parkTaken = true // no thread to spare: wait in the poller
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			m.f.SetReadDeadline(time.Time{}) // woken by letGo: look again
		case err != nil:
			return err
		}
	}
}

// fill reads what the pipe holds into the frame reader's buffer and
// reports whether there is something for next: data (read now, or the
// start of a frame a Call left in the buffer, in which case fill reads
// nothing), the pipe's end, or bad data seen before (broken, which next
// reports as errNoData). Only the token's holder calls it.
func (m *msgPipe) fill() bool {
	if m.broken.Load() {
		return true
	}
	m.src.fresh = true
	_, err := m.rd.r.Peek(1)
	return !errors.Is(err, errNoData)
}
