package mp

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Children must die with their parent. The kernel's parent-death signal
// (SysProcAttr.Pdeathsig) does that, with one catch (Go issue 27505): it
// fires when the *thread* that started the child exits, not the process, and
// the Go runtime retires threads whenever it likes. So every child is started
// from one goroutine that is locked to its OS thread and never returns: the
// thread lives exactly as long as the process.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn starts cmd from the spawner thread, and tells it which thread that
// is (MP_SPAWNER): a backend whose frontend is killed learns it from that
// thread's end, before it is reparented (see frontendGone).
func spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // and never unlock: see above
			tid := envSpawner + "=" + strconv.Itoa(unix.Gettid())
			for r := range spawner.reqs {
				r.cmd.Env = append(r.cmd.Env, tid)
				r.done <- r.cmd.Start()
			}
		}()
	})
	r := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawner.reqs <- r
	return <-r.done
}

// limitError adds to err which limit of the machine it ran into, when it is
// one: open files (EMFILE, ENFILE) or processes (EAGAIN from fork).
func limitError(err error) error {
	var lim unix.Rlimit
	switch {
	case errors.Is(err, syscall.EMFILE):
		unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
		return fmt.Errorf("%w (the open-file limit, RLIMIT_NOFILE, is %d here; each running process holds 6 in the frontend: raise it with ulimit -n)", err, lim.Cur)
	case errors.Is(err, syscall.EBADF) && strings.Contains(err.Error(), "fork/exec"):
		// The child could not place its descriptors: those it was given
		// are renumbered above the highest one, which fails when that is
		// beyond the limit.
		unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
		return fmt.Errorf("%w (near the open-file limit, RLIMIT_NOFILE, of %d: each running process holds 6 in the frontend: raise it with ulimit -n)", err, lim.Cur)
	case errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("%w (the system-wide open-file limit, fs.file-max, is reached)", err)
	case errors.Is(err, syscall.EAGAIN):
		unix.Getrlimit(unix.RLIMIT_NPROC, &lim)
		return fmt.Errorf("%w (the process limit, RLIMIT_NPROC, is %d here, or the kernel's pid_max or threads-max is reached)", err, lim.Cur)
	}
	return err
}
