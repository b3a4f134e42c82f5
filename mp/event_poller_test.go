package mp

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inThePoller reports whether descriptor fd of this process is in one of its
// epoll sets (the runtime's poller) but those of the descriptors in except:
// /proc/self/fdinfo of an epoll descriptor lists each target as "tfd: N"
// (proc_pid_fdinfo(5)).
func inThePoller(t *testing.T, fd int, except ...int) bool {
	links, err := filepath.Glob("/proc/self/fd/*")
	require.NoError(t, err)
	for _, l := range links {
		if dest, _ := os.Readlink(l); dest != "anon_inode:[eventpoll]" {
			continue
		}
		if n, _ := strconv.Atoi(filepath.Base(l)); slices.Contains(except, n) {
			continue
		}
		f, err := os.Open("/proc/self/fdinfo/" + filepath.Base(l))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "tfd:" && fields[1] == strconv.Itoa(fd) {
				f.Close()
				return true
			}
		}
		f.Close()
	}
	return false
}

// Fault: an event's doorbell in the runtime's poller woke the thread waiting
// in epoll_wait at every Set, every Wait's read and every Close, for
// nothing (a Sync round trip cost 43–48 CPU-µs with polling off, against
// 20–24 without those wake-ups). Doorbells stay out of the poller; a Wait
// that takes long still ends with its context and when the backend dies.
func TestEventDoorbellsStayOutOfThePoller(t *testing.T) {
	p := startTest(t, Options{Events: 2})
	ev, err := p.NewEvent()
	require.NoError(t, err)
	defer ev.Close()
	for _, fd := range p.events.fds {
		assert.False(t, inThePoller(t, fd), "doorbell %d is in the runtime's poller", fd)
	}

	// A long wait (past the kernel wait's blockFor) registers a duplicate
	// for itself, which its ctx ends and which goes away after it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*blockFor)
	defer cancel()
	require.ErrorIs(t, ev.Wait(ctx), context.DeadlineExceeded)
	require.NoError(t, p.Send(context.Background(), "set", Params{"event": ev.ID()}))
	require.NoError(t, ev.Wait(context.Background()), "a Set after a long wait")
	for _, fd := range p.events.fds {
		assert.False(t, inThePoller(t, fd), "doorbell %d is in the runtime's poller after a wait", fd)
	}
}
