package mp

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Fault: once bad data came, the reader goroutine drops what the pipe
// holds until it ends (the killed backend's last writes); it did so in
// read(2) with the pipe made blocking, holding an OS thread each for as
// long as the pipe stayed open, where it used to wait in the runtime's
// poller. Here the "backends" are killed but the test holds their pipes
// open: once a reader has dropped what came, no thread may wait in read(2)
// on its pipe.
func TestBadDataHoldsNoThreadUntilThePipeEnds(t *testing.T) {
	const n = 20
	ws := make([]int, n) // the write ends, left open until the cleanup
	rs := make(map[int]bool, n)
	for i := range n {
		p, w := readingProcess(t)
		ws[i] = int(w.Fd())
		rs[p.conn.pipe.src.fd] = true
	}
	var bad [5]byte // a header beyond MaxFrameSize, and a byte behind it
	binary.LittleEndian.PutUint32(bad[:], 1<<31)
	for _, fd := range ws {
		_, err := unix.Write(fd, bad[:])
		require.NoError(t, err)
	}
	for i, fd := range ws { // each reader has seen the bad data and drops the rest
		require.Eventually(t, func() bool {
			left, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
			return err == nil && left == 0
		}, 5*time.Second, time.Millisecond, "pipe %d: bytes still unread", i)
	}
	assert.Zero(t, threadsInRead(t, rs), "threads blocked in read(2) on %d pipes whose readers drop what comes", n)
}

// threadsInRead counts this process's threads blocked in read(2) on one of
// the descriptors fds (/proc/self/task/*/syscall: the call's number, then
// its arguments; proc_pid_syscall(5)).
func threadsInRead(t *testing.T, fds map[int]bool) int {
	tasks, err := filepath.Glob("/proc/self/task/*/syscall")
	require.NoError(t, err)
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) < 2 || f[0] != strconv.Itoa(unix.SYS_READ) {
			continue
		}
		if fd, err := strconv.ParseInt(strings.TrimPrefix(f[1], "0x"), 16, 64); err == nil && fds[int(fd)] {
			n++
		}
	}
	return n
}
