package mp

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
//
// The pipe is not in the runtime's poller, which would wake a thread for
// every frame that comes, even a reply its Call reads itself. The reader
// goroutine waits in the poller on an epoll instance of the pipe's own,
// where the pipe is armed for one wake-up at a time (EPOLLONESHOT): the
// reader arms it when it lets the token go, a Call when it lets the token
// go with something for the reader, or a millisecond after the last Call
// of a burst (see letGo). While Calls come one after another the pipe stays
// unarmed, and their replies wake nothing but their Calls.
type msgPipe struct {
	f      *os.File // the pipe, outside the runtime's poller (see newMsgPipe)
	rc     syscall.RawConn
	tok    atomic.Bool // held by the goroutine that reads frames
	broken atomic.Bool // bad data came: nothing more is read as frames
	rd     *frameReader
	src    *pipeSource // rd's source: the descriptor and its polling window

	// The reader goroutine waits in the runtime's poller on an epoll
	// instance of its own (ep) that holds the pipe once: EPOLLONESHOT, so
	// that the pipe wakes it only when armed (see arm). A Call that holds
	// the token reads its replies without waking anything.
	ep       *os.File
	eprc     syscall.RawConn
	armLater *time.Timer  // arms the pipe restFor after the last Call let go
	armMu    sync.Mutex   // orders arming, disarming and taking a wake-up
	armed    atomic.Bool  // the pipe is armed (set under armMu)
	selfArms atomic.Int64 // times the reader goroutine armed it (tests look)
	ending   atomic.Bool  // the backend was asked to stop (expectEnd)
}

// errNoData says that the pipe holds no frame yet (see msgPipe.next).
var errNoData = errors.New("no frame in the pipe yet")

// pipeSource reads the pipe for the frame reader, without the runtime's
// poller (the goroutine that reads changes; see msgPipe).
type pipeSource struct {
	fd      int
	fresh   bool     // the next read starts a frame: an empty pipe is errNoData
	emptied bool     // the last read found the pipe empty, or emptied it
	spin    *spinner // told when data arrives
}

// Read reads into p. Between frames it returns errNoData when the pipe is
// empty; inside a frame it waits for the rest, which the backend is writing
// (or for the pipe's end, if it dies).
func (s *pipeSource) Read(p []byte) (int, error) {
	for {
		n, err := readRetry(s.fd, p)
		s.emptied = err == unix.EAGAIN || err == nil && n > 0 && n < len(p)
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

// nextToDrain is next for the reader goroutine, which drains the pipe:
// when the buffer is empty and the last read emptied the pipe, it returns
// errNoData without reading again, unless polling wants a look. What comes
// after that read is not missed: the reader arms the pipe before it waits
// (await), which wakes it at once if data is there.
func (m *msgPipe) nextToDrain() (frame, error) {
	if m.emptied() && !m.src.spin.polls() {
		return frame{}, errNoData
	}
	return m.next()
}

// emptied reports whether the frame reader's buffer is empty and its last
// read of the pipe found it empty or emptied it. Only the token's holder
// calls it.
func (m *msgPipe) emptied() bool { return m.src.emptied && m.rd.r.Buffered() == 0 }

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
