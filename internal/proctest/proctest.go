// Package proctest finds the processes a test started, by the tag the
// suite puts in their environment (MP_TEST_TAG), so that a test can check
// that none is left behind, and waits for a process to end. It reads /proc
// directly.
package proctest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// TagVar is the environment variable that marks the processes of one test
// run.
const TagVar = "MP_TEST_TAG"

// Tagged returns the PIDs of the live processes other than this one whose
// environment holds TagVar=tag, in the order /proc lists them. A zombie
// (exited, not yet reaped) is not live. Processes whose environment cannot
// be read (another user's, or gone meanwhile) are left out, and so is one in
// the middle of its exec(2), whose new environment is not set up yet.
func Tagged(tag string) []int {
	want := []byte(TagVar + "=" + tag + "\x00")
	dirs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(env, want) || !Alive(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// Alive reports whether process pid exists and is not a zombie (its state,
// the field after the command name's closing parenthesis in
// /proc/<pid>/stat, is not 'Z'; see proc(5)).
func Alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || len(stat) <= i+2 || stat[i+2] != 'Z'
}

// AwaitGone waits up to bound for process pid to end, and reports whether
// it has: its pidfd becomes readable when it exits (pidfd_open(2)), which
// AwaitGone waits for in poll(2) rather than looking every few
// milliseconds. A pid already reaped counts as ended. An error of the
// system calls fails the test.
func AwaitGone(t testing.TB, pid int, bound time.Duration) bool {
	t.Helper()
	gone, err := awaitAnyGone([]int{pid}, bound)
	if err != nil {
		t.Fatal(err)
	}
	return gone
}
