package mp

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The floors of a wait that a context can end: ppoll(2) beside an eventfd
// (what a Call's ctx would write) before each read.

// pollRead waits for fd in ppoll(2) beside a cancel eventfd, then reads 8 bytes.
func pollRead(fd, efd int, buf []byte) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(efd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Ppoll(pfd, nil, nil); err != nil && err != unix.EINTR {
			return err
		}
		n, err := unix.Read(fd, buf)
		if err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.EOF
		}
		return nil
	}
}

// BenchmarkRawPollRoundTrip is BenchmarkRawPipeRoundTrip with both sides
// waiting in ppoll(2) beside a cancel eventfd before each read: the floor of
// a wait that a context can end.
func BenchmarkRawPollRoundTrip(b *testing.B) { pollRoundTrip(b, "ppoll") }

// BenchmarkRawPollReadRoundTrip is BenchmarkRawPollRoundTrip with the echo
// waiting in read(2): the floor of the library's own waits when polling is
// off (MP_SPIN=0), where a Call waits in ppoll(2) beside what its ctx
// would write and the backend's loop in read(2) (plainread.go).
func BenchmarkRawPollReadRoundTrip(b *testing.B) { pollRoundTrip(b, "pipe") }

// pollRoundTrip times round trips with the raw echo child in mode, this
// side waiting in ppoll(2) beside a cancel eventfd before each read.
func pollRoundTrip(b *testing.B, mode string) {
	w, r, pid, stop := rawEchoPipes(b, mode, unix.O_NONBLOCK)
	defer stop()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(b, err)
	defer unix.Close(efd)
	buf := []byte("12345678")
	defer measureCPU(b, pid)()
	for b.Loop() {
		if _, err := unix.Write(w, buf); err != nil {
			b.Fatal(err)
		}
		if err := pollRead(r, efd, buf); err != nil {
			b.Fatal(err)
		}
	}
}
