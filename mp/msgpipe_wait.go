package mp

import (
	"fmt"
	"os"
	"time"

	"github.com/mpgo/mp/internal/spin"
	"golang.org/x/sys/unix"
)

// How the reader goroutine waits for its message pipe (see msgPipe): in
// the runtime's poller, on an epoll instance of the pipe's own, where the
// pipe is armed for one wake-up at a time, and left unarmed while Calls
// read their own replies.

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
		return nil, fmt.Errorf("an epoll instance for the message pipe: %w", err)
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
		return nil, fmt.Errorf("a copy of the message pipe's descriptor: %w", err)
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

// letGo gives the token back (see msgPipe), with nothing in the frame
// reader's buffer but, at most, the start of a frame that is not whole yet
// (see whole). The reader goroutine, which waits unarmed while a Call holds
// the token (see await), must hear of what comes from now on: letGo arms the
// pipe at once if calls wait for their replies (callsWait, asked after the
// token is let go) or the pipe holds anything, and otherwise restFor later
// (armLater), so that Calls that come one after another read their replies
// without waking it. Whether the pipe holds anything is asked of the
// kernel only if the holder's last read did not empty it: what comes after
// a read that did waits for armLater, as what comes a moment after letGo
// does, and a round trip saves a system call.
func (m *msgPipe) letGo(callsWait func() bool) {
	emptied := m.emptied()
	m.tok.Store(false)
	now := callsWait() || m.ending.Load()
	if !now && emptied {
		m.armLater.Reset(restFor)
		return
	}
	// Inside Control, the descriptor stays open: the reader goroutine may
	// take the token at once, meet the pipe's end and close the file.
	m.rc.Control(func(uintptr) {
		if now || m.readable() {
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
func (m *msgPipe) arm() {
	m.armMu.Lock()
	defer m.armMu.Unlock()
	m.setArmed(true)
}

// armFree arms the pipe for the reader goroutine (or the timer), which
// does not hold the token, unless a Call holds it: that Call arms the pipe
// when it lets go (letGo). The look at the token and the arming are one
// step under armMu, so that they never undo a Call's arming: a disarm
// after the look could come after that Call had let the token go and armed
// the pipe for its reply, which then woke nobody.
func (m *msgPipe) armFree() {
	m.armMu.Lock()
	defer m.armMu.Unlock()
	if m.tok.Load() {
		return
	}
	if afterReaderLook != nil {
		afterReaderLook()
	}
	m.setArmed(true)
}

// beforeAwait, if set, runs when the reader goroutine, having drained the
// pipe and let the token go, is about to wait again; for tests, which act
// as a Call there.
var beforeAwait func()

// afterReaderLook, if set, runs in armFree between its look at the token
// and its arming; for tests, which widen the window there.
var afterReaderLook func()

// disarm disarms the pipe if it is armed; for a Call that has taken the
// token. An armed pipe whose data a Call reads first never reports to the
// reader (the kernel drops the event when it finds the pipe empty), and so
// stays armed: each frame that comes then wakes the runtime's epoll_wait.
func (m *msgPipe) disarm() {
	if !m.armed.Load() {
		return
	}
	m.armMu.Lock()
	defer m.armMu.Unlock()
	if m.armed.Load() {
		m.setArmed(false)
	}
}

// setArmed arms or disarms the pipe; with armMu held.
func (m *msgPipe) setArmed(on bool) {
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

// woken takes the wake-up that woke the reader goroutine, if any, and
// reports whether there was one: the kernel disarms a one-shot entry as it
// reports it.
func (m *msgPipe) woken(ep int) (took bool) {
	m.armMu.Lock()
	defer m.armMu.Unlock()
	var evs [1]unix.EpollEvent
	if n, _ := unix.EpollWait(ep, evs[:], 0); n > 0 {
		m.armed.Store(false)
		return true
	}
	return false
}

// expectEnd says that the backend was asked to stop: its exit, which ends
// the pipe, is for the reader goroutine to hear at once (the process is
// reaped when it does), not restFor after the last Call. From now on the
// pipe is armed whenever the token is free.
func (m *msgPipe) expectEnd() {
	m.ending.Store(true)
	m.armIfFree()
}

// armIfFree arms the pipe unless a Call holds the token (it arms when it
// lets go).
func (m *msgPipe) armIfFree() {
	m.rc.Control(func(uintptr) { m.armFree() })
}

// await waits, in the runtime's poller, until the pipe has something for
// the reader goroutine to read while no caller holds the token, polling for
// a moment first; it then returns with the token taken and data in the
// frame reader's buffer (or the pipe's end ahead, or the pipe broken by bad
// data: see fill). While a Call holds the token it waits unarmed (letGo
// arms). It returns an error only if the file was closed. A reader that
// has just drained the pipe (drained), finds no wake-up to take and will
// not poll arms the pipe at once, without a read to try (arming wakes it if
// data came meanwhile): one system call fewer per message. The wake-up is
// always taken first: a Call may have armed the pipe since the drain, and
// arming again while its wake-up is queued would make no new one.
func (m *msgPipe) await(drained bool) error {
	if drained && beforeAwait != nil {
		beforeAwait()
	}
	for {
		mine := false
		err := m.eprc.Read(func(ep uintptr) bool {
			took := m.woken(int(ep))
			look := !drained || took || m.src.spin.polls()
			drained = false
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
			if look && (try() || m.src.spin.poll(try)) {
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

// discard reads and drops what the pipe holds until it ends, waiting
// between reads on the pipe's epoll instance, in the runtime's poller (no
// thread held while the pipe stays open); for the reader goroutine, with
// the token, once bad data came.
func (m *msgPipe) discard() {
	var buf [4096]byte
	m.eprc.Read(func(ep uintptr) bool {
		m.woken(int(ep))
		for {
			n, err := readRetry(m.src.fd, buf[:])
			if err == unix.EAGAIN {
				m.arm() // what came since the read wakes us at once
				return false
			}
			if err != nil || n == 0 {
				return true // the pipe's end
			}
		}
	})
}

// close closes the pipe and its epoll instance; for the reader goroutine,
// once the pipe has ended.
func (m *msgPipe) close() {
	m.armLater.Stop()
	m.ep.Close()
	m.f.Close()
}
