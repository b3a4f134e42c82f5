package chapters_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// The commands the chapters' scripts use besides testscript's own (see
// TestChapters): what is left behind, processes by tag, waiting for output.

// noLeftovers fails unless no process and no /dev/shm segment of this script
// is left. A process killed a moment ago may take a little while to
// disappear, so it looks again for up to one second before failing (the
// promise: nothing of ours alive one second after its frontend is gone).
// With -procs it checks the processes only.
//
//	noleftovers [-procs]
func noLeftovers(ts *testscript.TestScript, neg bool, args []string) {
	procsOnly := len(args) == 1 && args[0] == "-procs"
	if neg || len(args) > 1 || len(args) == 1 && !procsOnly {
		ts.Fatalf("usage: noleftovers [-procs]")
	}
	procs := waitNoProcesses(ts.Getenv("MP_TEST_TAG"))
	if procsOnly {
		if len(procs) > 0 {
			ts.Fatalf("left behind: processes %v", procs)
		}
		return
	}
	segs := removeSegments(ts.Getenv("MP_SHM_PREFIX")) // do not leak past the test
	if len(procs) > 0 || len(segs) > 0 {
		ts.Fatalf("left behind: processes %v, /dev/shm segments %v", procs, segs)
	}
}

// removeSegments removes the /dev/shm files whose name starts with prefix,
// and returns their names.
func removeSegments(prefix string) []string {
	var segs []string
	entries, _ := os.ReadDir("/dev/shm")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			segs = append(segs, e.Name())
			os.Remove(filepath.Join("/dev/shm", e.Name()))
		}
	}
	return segs
}

// noProcs fails unless no process of this script is left one second after
// it is called, and leaves /dev/shm alone: the check a script makes before
// it shows what a crash left there.
//
//	noprocs
func noProcs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: noprocs")
	}
	if procs := waitNoProcesses(ts.Getenv("MP_TEST_TAG")); len(procs) > 0 {
		ts.Fatalf("still running after one second: %v", procs)
	}
}

// waitNoProcesses waits up to one second for the processes tagged tag to be
// gone (on their pidfds: proctest.AwaitNone), and returns those still
// alive, as taggedProcesses does; an error of the wait comes last, as an
// entry of its own, so that the caller fails showing it.
func waitNoProcesses(tag string) []string {
	pids, err := proctest.AwaitNone(func() []int { return proctest.Tagged(tag) }, time.Second)
	procs := describeProcesses(pids)
	if err != nil {
		procs = append(procs, "error: "+err.Error())
	}
	return procs
}

// taggedProcesses lists live processes whose environment holds
// MP_TEST_TAG=tag, as "pid argv0".
func taggedProcesses(tag string) []string {
	return describeProcesses(proctest.Tagged(tag))
}

// describeProcesses returns "pid argv0" for each of pids.
func describeProcesses(pids []int) []string {
	var found []string
	for _, pid := range pids {
		found = append(found, fmt.Sprintf("%d %s", pid, argv0Of(pid)))
	}
	return found
}

// waitProc waits until a process of this script whose argv[0] is the given
// one is running, for up to ten seconds; a backend (argv[0] "mp:…") also
// until it has named its thread (comm "mp:…", which mp.Init sets just
// after the exec that gave it its argv[0]). It is how a script knows that
// a backend has started before it injects a fault or looks at ps.
//
//	waitproc mp:ping/my-process
func waitProc(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitproc argv0")
	}
	// A bounded poll, as nothing better exists: no event tells another
	// process that a process has run exec(2) or renamed its thread (the
	// kernel's proc connector does, but only to root and machine-wide), and
	// the programs print no line at that moment that a script could wait
	// for with waitfor.
	tag := ts.Getenv("MP_TEST_TAG")
	named := func(pid string) bool {
		comm, err := os.ReadFile("/proc/" + pid + "/comm")
		return err == nil && strings.HasPrefix(string(comm), "mp:")
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, p := range taggedProcesses(tag) {
			pid, argv0, _ := strings.Cut(p, " ")
			if argv0 == args[0] && (!strings.HasPrefix(argv0, "mp:") || named(pid)) {
				return
			}
		}
	}
	ts.Fatalf("no process %q within ten seconds", args[0])
}

// waitFor waits until a file of the script's work directory holds a line
// matching a regular expression, for up to ten seconds: how a script knows
// that a background command has reached a point of its story (its output
// redirected to that file) before it injects a fault.
//
//	waitfor out 'all 5 workers ready'
func waitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfor file regexp")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	matches := func() bool {
		b, err := os.ReadFile(path)
		return err == nil && re.Match(b)
	}
	found, err := awaitFileChange(filepath.Dir(path), matches, 10*time.Second)
	ts.Check(err)
	if !found {
		ts.Fatalf("no line matching /%s/ in %s within ten seconds", args[1], args[0])
	}
}

// awaitFileChange waits up to bound for done to return true, calling it
// first and then each time a file in dir is created, written to or moved
// there (inotify(7) events: the file done reads may not exist yet). It
// reports whether done returned true.
func awaitFileChange(dir string, done func() bool, bound time.Duration) (bool, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return false, fmt.Errorf("inotify_init1: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MODIFY|unix.IN_MOVED_TO); err != nil {
		return false, fmt.Errorf("inotify_add_watch %s: %w", dir, err)
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	events := make([]byte, 4096)
	for deadline := time.Now().Add(bound); ; {
		if done() {
			return true, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		// Rounded up, so that a wait under a millisecond still waits.
		if _, err := unix.Poll(pfd, int((left+time.Millisecond-1)/time.Millisecond)); err != nil && err != unix.EINTR {
			return false, fmt.Errorf("poll on inotify: %w", err)
		}
		for { // the events only say "look again": drain them
			if _, err := unix.Read(fd, events); err != nil {
				break
			}
		}
	}
}

// signalProc sends a signal to the processes of this script whose argv[0]
// is one of those given (or, with a final *, starts with it), in the order
// given, at once: how a script kills one worker among many, or signals a
// manager and all of its workers as systemctl stop does.
//
//	signalproc KILL mp:main1/worker-2
//	signalproc TERM main1 'mp:main1/*'
func signalProc(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: signalproc SIGNAL argv0...")
	}
	sig := unix.SignalNum("SIG" + args[0])
	if sig == 0 {
		ts.Fatalf("unknown signal %q", args[0])
	}
	procs := taggedProcesses(ts.Getenv("MP_TEST_TAG"))
	var sent []string
	for _, want := range args[1:] {
		prefix, all := strings.CutSuffix(want, "*")
		n := 0
		for _, p := range procs {
			pid, argv0, _ := strings.Cut(p, " ")
			if argv0 != want && !(all && strings.HasPrefix(argv0, prefix)) {
				continue
			}
			id, err := strconv.Atoi(pid)
			ts.Check(err)
			n++
			if err := unix.Kill(id, sig); err == unix.ESRCH {
				continue // gone since the list was made: what a signal to it would have wanted
			} else if err != nil {
				ts.Fatalf("signal %s: %v", p, err)
			}
			sent = append(sent, p)
		}
		if n == 0 {
			ts.Fatalf("no process %q", want)
		}
	}
	ts.Logf("sent SIG%s to %s", args[0], strings.Join(sent, ", "))
}

// cmpRegexpLines compares the output line by line with a file of regular
// expressions, one per line, each matching a whole line: the same lines, in
// the same order, and no others.
//
//	cmpre stdout|stderr want-file
func cmpRegexpLines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cmpre stdout|stderr want-file")
	}
	got := lines(ts.ReadFile(args[0]))
	want := lines(ts.ReadFile(args[1]))
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			ts.Fatalf("line %d: missing, want /%s/", i+1, want[i])
		case i >= len(want):
			ts.Fatalf("line %d: unexpected %q", i+1, got[i])
		}
		re, err := regexp.Compile("^(?:" + want[i] + ")$")
		ts.Check(err)
		if !re.MatchString(got[i]) {
			ts.Fatalf("line %d: %q does not match /%s/", i+1, got[i], want[i])
		}
	}
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// pids checks process IDs across lines: each regular expression must match
// at least one line; a named group must hold the same number wherever it
// appears, and different names must hold different numbers. With the
// backend's PID as reported by the frontend and by the backend itself, it
// proves that code ran in the backend, a process other than the frontend.
//
//	pids stdout 'backend pid (?P<back>[0-9]+) from frontend pid (?P<front>[0-9]+)' 'in pid (?P<back>[0-9]+)'
func pids(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: pids stdout|stderr regexp...")
	}
	text := ts.ReadFile(args[0])
	seen := map[string]string{} // group name → pid
	for _, expr := range args[1:] {
		re, err := regexp.Compile(expr)
		ts.Check(err)
		matches := re.FindAllStringSubmatch(text, -1)
		if len(matches) == 0 {
			ts.Fatalf("no line matches /%s/", expr)
		}
		for _, m := range matches {
			for i, name := range re.SubexpNames() {
				if name == "" {
					continue
				}
				if old, ok := seen[name]; ok && old != m[i] {
					ts.Fatalf("%q: %s is pid %s here, pid %s before", m[0], name, m[i], old)
				}
				seen[name] = m[i]
			}
		}
	}
	if len(seen) == 0 {
		ts.Fatalf("no named groups in %q", args[1:])
	}
	byPid := map[string]string{}
	for name, pid := range seen {
		if other, ok := byPid[pid]; ok {
			ts.Fatalf("%s and %s are the same process, pid %s", other, name, pid)
		}
		byPid[pid] = name
	}
}
