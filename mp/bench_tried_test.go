package mp

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Floors of ideas measured and not adopted (docs/benchmarks.md, "The floors
// and the round trips with make bench-ladder"):
//
//	MP_SPIN=0 go test -run '^$' -bench 'RawEpollReadRoundTrip|RawPollReadRoundTrip|RawAnswerThenWork' -benchtime 50000x ./mp

// BenchmarkRawEpollReadRoundTrip is BenchmarkRawPollReadRoundTrip with this
// side waiting in epoll_wait(2), on an epoll instance of its own where the
// pipe (and, in "pipe+cancel", a cancel eventfd) is registered once, instead
// of in ppoll(2), which registers its descriptors on every call.
func BenchmarkRawEpollReadRoundTrip(b *testing.B) {
	for _, withCancel := range []bool{false, true} {
		b.Run(map[bool]string{false: "pipe", true: "pipe+cancel"}[withCancel], func(b *testing.B) {
			w, r, pid, stop := rawEchoPipes(b, "pipe", unix.O_NONBLOCK)
			defer stop()
			ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			require.NoError(b, err)
			defer unix.Close(ep)
			fds := []int{r}
			if withCancel {
				efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
				require.NoError(b, err)
				defer unix.Close(efd)
				fds = append(fds, efd)
			}
			for _, fd := range fds {
				require.NoError(b, unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}))
			}
			buf := []byte("12345678")
			var evs [2]unix.EpollEvent
			defer measureCPU(b, pid)()
			for b.Loop() {
				if _, err := unix.Write(w, buf); err != nil {
					b.Fatal(err)
				}
				if err := epollRead(ep, evs[:], r, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// epollRead waits in epoll_wait(2) on ep, then reads buf from fd.
func epollRead(ep int, evs []unix.EpollEvent, fd int, buf []byte) error {
	for {
		if _, err := unix.EpollWait(ep, evs, -1); err != nil && err != unix.EINTR {
			return err
		}
		n, err := unix.Read(fd, buf)
		switch {
		case err == unix.EAGAIN:
			continue
		case err != nil:
			return err
		case n == 0:
			return io.EOF
		}
		return nil
	}
}

// rawAnswerThenWork is the prefix of the raw echo mode of
// BenchmarkRawAnswerThenWork: "answer-then-work:<ns>".
const rawAnswerThenWork = "answer-then-work:"

// answerThenWorkEcho answers every 8 bytes on fd 3 with 8 bytes on fd 4 (a
// pipe or an eventfd), then works (spins) for the mode's nanoseconds before
// it reads again, as a backend finishes a command after its handler rang an
// event.
func answerThenWorkEcho(mode string) int {
	ns, _ := strconv.Atoi(strings.TrimPrefix(mode, rawAnswerThenWork))
	var buf [8]byte
	for {
		if n, err := unix.Read(3, buf[:]); err != nil || n == 0 {
			return 0
		}
		if _, err := unix.Write(4, one[:]); err != nil {
			return 0
		}
		for start := time.Now(); time.Since(start) < time.Duration(ns); {
		}
	}
}

// BenchmarkRawAnswerThenWork times round trips whose echo answers, through
// an eventfd or a pipe, and then works 0 or 3 µs before its next read: what
// a wake-up costs when the waker goes on running (an eventfd's wake-up does
// not tell the scheduler the writer will sleep soon; a pipe's does).
func BenchmarkRawAnswerThenWork(b *testing.B) {
	for _, work := range []time.Duration{0, 3 * time.Microsecond} {
		for _, up := range []string{"eventfd", "pipe"} {
			b.Run(fmt.Sprintf("work=%v/%s", work, up), func(b *testing.B) {
				var down [2]int
				require.NoError(b, unix.Pipe2(down[:], unix.O_CLOEXEC))
				r, w := answerChannel(b, up)
				stop, pid := startRaw(b, rawAnswerThenWork+strconv.Itoa(int(work)), down[0], w)
				defer stop()
				unix.Close(down[0])
				defer unix.Close(down[1])
				efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
				require.NoError(b, err)
				defer unix.Close(efd)
				buf := []byte("12345678")
				defer measureCPU(b, pid)()
				for b.Loop() {
					if _, err := unix.Write(down[1], buf); err != nil {
						b.Fatal(err)
					}
					if err := pollRead(r, efd, buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// answerChannel returns the read and write ends of the echo's answers: one
// non-blocking eventfd, or a pipe; closed when the benchmark ends.
func answerChannel(b *testing.B, kind string) (r, w int) {
	if kind == "eventfd" {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		require.NoError(b, err)
		b.Cleanup(func() { unix.Close(fd) })
		return fd, fd
	}
	var p [2]int
	require.NoError(b, unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK))
	b.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}
