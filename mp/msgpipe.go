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
}

// newMsgPipe reads the frontend's end of a message pipe, f, which it takes
// over (f is closed). The pipe leaves the runtime's poller, which would
// wake a thread for every frame that comes, whoever reads it: the reader
// goroutine waits on the pipe's own epoll instance instead (see arm).
func newMsgPipe(f *os.File) (*msgPipe, error) {
	pf, err := outsidePoller(f)
	if err != nil {
		return nil, err
	}
	m := &msgPipe{f: pf, src: &pipeSource{spin: newSpinner()}}
	if m.rc, err = pf.SyscallConn(); err != nil {
		pf.Close()
		return nil, err
	}
	m.rc.Control(func(fd uintptr) { m.src.fd = int(fd) })
	m.rd = newFrameReader(m.src, MaxFrameSize)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		pf.Close()
		return nil, err
	}
	ev := unix.EpollEvent{Events: armedEvents, Fd: int32(m.src.fd)}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, m.src.fd, &ev); err != nil {
		unix.Close(ep)
		pf.Close()
		return nil, err
	}
	unix.SetNonblock(ep, true) // so that os.NewFile puts it in the poller
	m.ep = os.NewFile(uintptr(ep), "epoll of "+f.Name())
	if m.eprc, err = m.ep.SyscallConn(); err != nil {
		m.ep.Close()
		pf.Close()
		return nil, err
	}
	m.armLater = time.AfterFunc(time.Hour, m.armIfFree)
	m.armLater.Stop()
	m.armed.Store(true)
	return m, nil
}

// armedEvents is the pipe's event mask in its epoll instance when armed;
// disarmed, EPOLLONESHOT alone.
const armedEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// outsidePoller returns a file for f's pipe that the runtime's poller
// does not watch, still non-blocking for our reads, and closes f. A file
// made from a blocking descriptor stays out of the poller (os.NewFile);
// O_NONBLOCK, set after, belongs to the pipe's open file description.
func outsidePoller(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	dup := -1
	cerr := rc.Control(func(fd uintptr) { dup, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) })
	if cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	f.Close()
	if err := unix.SetNonblock(dup, false); err != nil {
		unix.Close(dup)
		return nil, err
	}
	pf := os.NewFile(uintptr(dup), f.Name())
	if err := unix.SetNonblock(dup, true); err != nil {
		pf.Close()
		return nil, err
	}
	return pf, nil
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
// (see whole). The reader goroutine, which waits unarmed while a Call holds
// the token (see await), must hear of what comes from now on: letGo arms the
// pipe at once if it holds anything or calls wait for their replies
// (callsWait, asked after the token is let go), and otherwise restFor later
// (armLater), so that Calls that come one after another read their replies
// without waking it.
func (m *msgPipe) letGo(callsWait func() bool) {
	m.tok.Store(false)
	// Inside Control, the descriptor stays open: the reader goroutine may
	// take the token at once, meet the pipe's end and close the file.
	m.rc.Control(func(uintptr) {
		if callsWait() || m.readable() {
			m.arm()
			return
		}
		m.armLater.Reset(restFor)
	})
}

// restFor is how long the pipe stays unarmed after a Call let the token go
// with nothing to read (see letGo): a message that comes after a burst of
// calls, with no Call to read it, waits restFor at most. A variable for
// tests.
var restFor = spin.Recently

// arm makes the pipe wake the reader goroutine once (EPOLLONESHOT) when
// it holds data or has ended; at once if it does now. Arming an armed pipe
// does nothing more.
func (m *msgPipe) arm() { m.setArmed(true) }

// armFree arms the pipe for the reader goroutine, which does not hold the
// token; if a Call took it meanwhile, that Call may have looked for an
// armed pipe before this armed it (see disarm), so armFree disarms it
// again: the Call arms it when it lets go.
func (m *msgPipe) armFree() {
	m.arm()
	if m.tok.Load() {
		m.disarm()
	}
}

// disarm disarms the pipe if it is armed; for a Call that has taken the
// token. An armed pipe whose data a Call reads first never reports to the
// reader (the kernel drops the event when it finds the pipe empty), and so
// stays armed: each frame that comes then wakes the runtime's epoll_wait.
func (m *msgPipe) disarm() {
	if m.armed.Load() {
		m.setArmed(false)
	}
}

func (m *msgPipe) setArmed(on bool) {
	m.armMu.Lock()
	defer m.armMu.Unlock()
	if !on && !m.armed.Load() {
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(m.src.fd)}
	if on {
		ev.Events = armedEvents
	}
	m.eprc.Control(func(ep uintptr) {
		if unix.EpollCtl(int(ep), unix.EPOLL_CTL_MOD, m.src.fd, &ev) == nil {
			m.armed.Store(on)
		}
	})
}

// woken takes the wake-up that woke the reader goroutine, if any: the
// kernel disarms a one-shot entry as it reports it.
func (m *msgPipe) woken(ep int) {
	m.armMu.Lock()
	defer m.armMu.Unlock()
	var evs [1]unix.EpollEvent
	if n, _ := unix.EpollWait(ep, evs[:], 0); n > 0 {
		m.armed.Store(false)
	}
}

// armIfFree arms the pipe unless a Call holds the token (it arms when it
// lets go).
func (m *msgPipe) armIfFree() {
	m.rc.Control(func(uintptr) {
		if !m.tok.Load() {
			m.armFree()
		}
	})
}

// await waits, in the runtime's poller, until the pipe has something for
// the reader goroutine to read while no caller holds the token, polling for
// a moment first; it then returns with the token taken and data in the
// frame reader's buffer (or the pipe's end ahead, or the pipe broken by bad
// data: see fill). While a Call holds the token it waits unarmed (letGo
// arms). It returns an error only if the file was closed.
func (m *msgPipe) await() error {
	for {
		mine := false
		err := m.eprc.Read(func(ep uintptr) bool {
			m.woken(int(ep))
			taken := false
			try := func() bool {
				if !m.take() {
					taken = true // a Call reads, and arms when it lets go
					return true
				}
				if mine = m.fill(); !mine {
					m.tok.Store(false)
				}
				return mine
			}
			if try() || m.src.spin.poll(try) {
				return mine // false (wait) if taken
			}
			if !taken {
				m.selfArms.Add(1)
				m.armFree() // data that came since fill looked wakes us at once
			}
			return false
		})
		if mine {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// close closes the pipe and its epoll instance; for the reader goroutine,
// once the pipe has ended.
func (m *msgPipe) close() {
	m.armLater.Stop()
	m.ep.Close()
	m.f.Close()
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
