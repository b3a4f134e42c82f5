package manager

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPty returns both ends of a new pseudo-terminal.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.SetNonblock(fd, true)) // so reads take a deadline
	master = os.NewFile(uintptr(fd), "ptmx")
	require.NoError(t, unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	require.NoError(t, err)
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { slave.Close(); master.Close() })
	return master, slave
}

// On a terminal (a pseudo-terminal here), 25 workers becoming ready draw a
// progress line that starts at "workers ready: 1/25" and ends with
// "workers ready: 25/25" and a newline.
func TestProgressOnTerminal(t *testing.T) {
	master, slave := openPty(t)
	p := newProgress(slave, 25)
	for range 25 {
		p.ready()
	}
	// The line discipline hands the writes over in pieces: read until
	// the last one.
	require.NoError(t, master.SetReadDeadline(time.Now().Add(5*time.Second)))
	var out string
	buf := make([]byte, 4096)
	for !strings.Contains(strings.ReplaceAll(out, "\r\n", "\n"), "25/25\n") {
		n, err := master.Read(buf)
		require.NoError(t, err, "read so far: %q", out)
		out += string(buf[:n])
	}
	assert.True(t, strings.HasPrefix(out, "\rworkers ready: 1/25"), "%q", out)
	assert.True(t, strings.HasSuffix(strings.ReplaceAll(out, "\r\n", "\n"), "\rworkers ready: 25/25\n"), "%q", out)
}

// No progress line is written to a writer that is not a terminal (a pipe),
// even for 1,000 workers; and with fewer than progressMin workers even a
// terminal gets none (the progress is done from the start).
func TestNoProgressOffTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	p := newProgress(w, 1000)
	for range 1000 {
		p.ready()
	}
	p.finish()
	w.Close()
	b := make([]byte, 16)
	n, _ := r.Read(b)
	assert.Zero(t, n, "wrote %q to a pipe", b[:n])
	// Few workers: no line even on a terminal.
	master, slave := openPty(t)
	p = newProgress(slave, progressMin-1)
	assert.True(t, p.done)
	_ = master
}
