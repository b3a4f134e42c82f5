package docgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrRun is wrapped by the errors of a chapter run that did not end as its
// doc.md says (exit status, timeout).
var ErrRun = errors.New("docgen: chapter run failed")

// DefaultTimeout bounds a chapter run whose doc.md sets no timeout.
const DefaultTimeout = 2 * time.Minute

// Build compiles the chapters in dirs (relative to root) into binDir, as a
// user's go build would, one binary per chapter named after its directory.
func Build(ctx context.Context, root, binDir string, dirs []string) error {
	if len(dirs) == 0 {
		return nil
	}
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	seen := map[string]bool{}
	for _, d := range dirs {
		if !seen[d] {
			seen[d] = true
			args = append(args, "./"+d)
		}
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docgen: go build: %w\n%s", err, out)
	}
	return nil
}

// Run runs a chapter's binary from binDir with its doc.md's arguments and
// MP_FAST=1 (no narrative pauses; the output is the same), in an
// environment without the caller's other MP_ variables, plus env. It
// returns what the chapter wrote to stdout and stderr, interleaved as a
// terminal shows them, normalised (see Normalize).
func Run(ctx context.Context, binDir string, c *Chapter, env []string) (string, error) {
	out, status, left, err := runBinary(ctx, binDir, c.Name, c.Meta.Args, c.Meta.Timeout, env)
	if err != nil {
		return "", fmt.Errorf("%w: %s %v", ErrRun, c.Dir, err)
	}
	if len(left) > 0 {
		return "", fmt.Errorf("%w: %s %s left %v in /dev/shm", ErrRun, c.Dir, strings.Join(c.Meta.Args, " "), left)
	}
	if status != c.Meta.Exit {
		return "", fmt.Errorf("%w: %s %s exited with status %d, doc.md expects %d:\n%s",
			ErrRun, c.Dir, strings.Join(c.Meta.Args, " "), status, c.Meta.Exit, out)
	}
	return Normalize(out, c.Meta.Normalize), nil
}

// runBinary runs binDir/name with args as Run does, and returns its output
// and its exit status (ExitKilled if SIGKILL ended it), and the segments it
// left in /dev/shm, which it removes. An error is a run that could not
// start or did not end within timeout (0: the default).
//
// The run has a shared-memory prefix of its own (MP_SHM_PREFIX), so that
// what it finds in /dev/shm is its own even while tests or other runs go
// on beside it; the output and the names left say "mp-" instead, the
// default prefix a reader's run has.
func runBinary(ctx context.Context, binDir, name string, args []string, timeout time.Duration, env []string) (string, int, []string, error) {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.Dir = binDir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MP_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	tag := make([]byte, 4)
	rand.Read(tag)
	prefix := "mp-docgen" + hex.EncodeToString(tag) + "-"
	cmd.Env = append(append(cmd.Env, "MP_FAST=1", "MP_SHM_PREFIX="+prefix), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out // one pipe: the terminal's order
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	left := removeSegments(prefix)
	for i, name := range left {
		left[i] = "mp-" + strings.TrimPrefix(name, prefix)
	}
	switch {
	case ctx.Err() != nil:
		return "", 0, nil, fmt.Errorf("did not end within %v:\n%s", timeout, out.String())
	case cmd.ProcessState == nil:
		return "", 0, nil, err
	}
	status := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		status = ExitKilled
	}
	return strings.ReplaceAll(out.String(), prefix, "mp-"), status, left, nil
}

// pidRE finds process IDs in a chapter's output: "pid 4242" (any case) and
// the PID part of a segment name, "mp-4242-".
var pidRE = regexp.MustCompile(`(?i)(\bpids? |\bmp-)([0-9]+)\b`)

// FirstPID is the number the lowest PID of a run is renumbered to.
const FirstPID = 1000

// Normalize makes a chapter's output the same from run to run: the PIDs it
// names are renumbered from FirstPID in their numeric order (so the same
// process keeps the same number, different ones differ, and a parent
// started first usually stays the lower), then the chapter's own rules are
// applied in order. Trailing spaces and a missing final newline are evened
// out.
func Normalize(out string, rules []Rule) string {
	seen := map[int]bool{}
	for _, m := range pidRE.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[2])
		seen[n] = true
	}
	pids := make([]int, 0, len(seen))
	for n := range seen {
		pids = append(pids, n)
	}
	sort.Ints(pids)
	renumber := map[int]int{}
	for i, n := range pids {
		renumber[n] = FirstPID + i
	}
	out = pidRE.ReplaceAllStringFunc(out, func(s string) string {
		m := pidRE.FindStringSubmatch(s)
		n, _ := strconv.Atoi(m[2])
		return m[1] + strconv.Itoa(renumber[n])
	})
	for _, r := range rules {
		out = r.RE.ReplaceAllString(out, r.Repl)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n") + "\n"
}
