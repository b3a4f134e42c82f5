package mp

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// A backend leads a process group of its own (Setpgid at start), and what it
// starts joins that group unless it asks for another. When the backend
// ends, the group ends with it: nothing a handler started outlives the
// process that started it.
//
//   - The backend, on its way out (exitBackend), sends SIGTERM to its group,
//     so that what it started may clean up.
//   - The frontend, once the backend has exited and before it reaps it, sends
//     SIGKILL to the group: this covers a backend killed with SIGKILL, which
//     runs no code, and children deaf to SIGTERM. Until the backend is
//     reaped, its PID (the group's ID) cannot be reused, so the signal can
//     reach no one else.
//   - A backend whose frontend is gone or on its way out (killed, or ended
//     by a signal's default action: the parent-death signal ends the
//     backend then) sends that SIGKILL itself, after its SIGTERM, to its
//     group and so to itself too: nobody else would, and its exit status
//     has no reader left but init.
//
// A program that a handler starts in a group or session of its own
// (Setpgid, Setsid, a daemon) leaves this group, and the library cannot see
// it: bind it to the handler's ctx with exec.CommandContext, and to the
// backend's life with SysProcAttr.Pdeathsig.

// endGroup waits until the backend has exited, without reaping it, and
// kills what is left of its process group.
func (p *Process) endGroup() {
	pid := p.cmd.Process.Pid
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	unix.Kill(-pid, unix.SIGKILL) // ESRCH: it left nothing behind
}

// exitBackend ends a backend with code, after asking what it started to end
// too (SIGTERM to its process group). The backend itself catches SIGTERM,
// and drops it, until it has exited: a SIGTERM on its way (the manager
// sends one to a worker whose task timed out, and the worker may be
// exiting already) must not turn a clean exit into a death by signal.
// Not signal.Ignore: the runtime stops handling the signal before the
// kernel ignores it, and a SIGTERM in between takes its default action.
func exitBackend(code int) {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM)
	if unix.Getpgrp() == os.Getpid() {
		unix.Kill(0, unix.SIGTERM)
		if launched != nil && launched.frontendGone() {
			unix.Kill(0, unix.SIGKILL) // see above
		}
	}
	os.Exit(code)
}

// frontendGone reports whether the frontend that started this backend has
// exited, or is exiting: we have another parent, or the frontend's thread
// that started us, which lives as long as the frontend (spawn.go), has
// exited. The parent-death signal comes at that thread's exit, and the
// rest of the frontend may still be on its way out when we get here, our
// parent still: its task entry says so at once. When /proc cannot tell
// (not mounted, another PID namespace's, hidden, out of descriptors), the
// frontend is taken to run.
func (l *launch) frontendGone() bool {
	if os.Getppid() != l.frontend {
		return true
	}
	if self, _ := os.Readlink("/proc/self"); l.spawner == 0 || self != strconv.Itoa(os.Getpid()) {
		return false // no spawner known, or no /proc of our PID namespace
	}
	task := fmt.Sprintf("/proc/%d/task/%d", l.frontend, l.spawner)
	stat, err := os.ReadFile(task + "/stat")
	switch {
	case err == nil:
		// "tid (comm) S …": the state follows the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		return i >= 0 && i+2 < len(stat) && bytes.IndexByte([]byte("ZXx"), stat[i+2]) >= 0
	case errors.Is(err, syscall.ESRCH):
		return true // exited as we read
	case errors.Is(err, fs.ErrNotExist):
		_, err := os.Stat(fmt.Sprintf("/proc/%d", l.frontend))
		return err == nil // the process is there, the thread is not
	}
	return false
}
