// The chapters' regression suite: every script in testdata/ runs the real
// chapter binaries, built once by TestMain, and checks what they print.
package chapters_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/docgen"
	"github.com/mpgo/mp/internal/proctest"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/rogpeppe/go-internal/txtar"
	"golang.org/x/sys/unix"
)

// binDir holds the chapter binaries, built exactly as a user's go run or go
// build would build them. Running them (rather than the test binary) means
// the re-executed backends are the chapters themselves.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mp-chapters-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// Every chapter there is (part*/*/main.go), and the examples.
	pkgs := []string{"./examples/..."}
	chapters, err := docgen.ChapterDirs(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, c := range chapters {
		pkgs = append(pkgs, "./"+c)
	}
	build := exec.Command("go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the chapters:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestChapters(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
			// No narrative pauses under test.
			env.Setenv("MP_FAST", "1")
			// CI marks every process of its run (see .ci/run).
			if run := os.Getenv("MP_TEST_RUN"); run != "" {
				env.Setenv("MP_TEST_RUN", run)
			}
			// A tag in every process's environment, and a shared-memory
			// prefix, both unique to this script: scripts run in parallel.
			tag := "ts" + randomHex(4)
			env.Setenv("MP_TEST_TAG", tag)
			env.Setenv("MP_SHM_PREFIX", "mp-"+tag+"-")
			// A script that fails before its noleftovers (the crash
			// scripts leave a segment on purpose) must not leave it on
			// the machine: remove what is left under its prefix.
			env.Defer(func() { removeSegments("mp-" + tag + "-") })
			// Scripts that run the project's tools find them here.
			root, err := os.Getwd()
			if err != nil {
				return err
			}
			env.Setenv("MP_ROOT", root)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"noleftovers": noLeftovers,
			"noprocs":     noProcs,
			"cmpre":       cmpRegexpLines,
			"pids":        pids,
			"waitproc":    waitProc,
			"signalproc":  signalProc,
			"waitfor":     waitFor,
		},
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

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
// gone, and returns those still alive.
func waitNoProcesses(tag string) []string {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		procs := taggedProcesses(tag)
		if len(procs) == 0 || time.Now().After(deadline) {
			return procs
		}
	}
}

// taggedProcesses lists live processes whose environment holds
// MP_TEST_TAG=tag, as "pid argv0".
func taggedProcesses(tag string) []string {
	var found []string
	for _, pid := range proctest.Tagged(tag) {
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
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && re.Match(b) {
			return
		}
	}
	ts.Fatalf("no line matching /%s/ in %s within ten seconds", args[1], args[0])
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

// TestChapterOrderIsStable runs the chapters that promise an order many
// times: the order must never change. The expected lines are the "want"
// file of the chapter's own script, so the two cannot drift apart.
func TestChapterOrderIsStable(t *testing.T) {
	for _, chapter := range []string{"ping2", "ping_pong"} {
		t.Run(chapter, func(t *testing.T) {
			t.Parallel()
			want := wantLines(t, chapter)
			for run := range 50 {
				cmd := exec.Command(filepath.Join(binDir, chapter))
				cmd.Env = append(os.Environ(), "MP_FAST=1")
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				got := lines(string(out))
				if len(got) != len(want) {
					t.Fatalf("run %d: %d lines, want %d:\n%s", run, len(got), len(want), out)
				}
				for i := range want {
					if !want[i].MatchString(got[i]) {
						t.Fatalf("run %d, line %d: %q does not match /%s/", run, i+1, got[i], want[i])
					}
				}
			}
		})
	}
}

// wantLines reads the "want" file of testdata/<chapter>.txtar.
func wantLines(t *testing.T, chapter string) []*regexp.Regexp {
	ar, err := txtar.ParseFile(filepath.Join("testdata", chapter+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ar.Files {
		if f.Name == "want" {
			var res []*regexp.Regexp
			for _, l := range lines(string(f.Data)) {
				res = append(res, regexp.MustCompile("^(?:"+l+")$"))
			}
			return res
		}
	}
	t.Fatalf("testdata/%s.txtar has no want file", chapter)
	return nil
}

// TestDocsShowVerifiedOutput checks the output blocks of the docs against
// the chapters' scripts: a block tagged "output <chapter>" must match, line
// by line, the "want" file of testdata/<chapter>.txtar.
func TestDocsShowVerifiedOutput(t *testing.T) {
	docs, _ := filepath.Glob(filepath.Join("docs", "*.md"))
	found := 0
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		blocks := regexp.MustCompile("(?ms)^```output ([a-z0-9_]+)\n(.*?)^```").FindAllStringSubmatch(string(text), -1)
		for _, b := range blocks {
			found++
			chapter, got := b[1], lines(b[2])
			want := wantLines(t, chapter)
			if len(got) != len(want) {
				t.Errorf("%s, output of %s: %d lines, the chapter prints %d", doc, chapter, len(got), len(want))
				continue
			}
			for i := range want {
				if !want[i].MatchString(got[i]) {
					t.Errorf("%s, output of %s, line %d: %q does not match what the chapter prints, /%s/", doc, chapter, i+1, got[i], want[i])
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("no output blocks found in docs/")
	}
}
