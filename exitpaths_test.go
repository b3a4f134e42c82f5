package chapters_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// part1 lists the Part I chapters, whose exit paths are checked below.
var part1 = []string{"ping", "ping2", "ping_pong", "shm1", "shm2"}

// Fault: Ctrl-C in a terminal (SIGINT to the whole process group, frontend
// and backend alike) or SIGTERM to the frontend (a service manager), while
// the chapter pauses with its backend running and, for shm1 and shm2, a
// segment in /dev/shm. Every chapter must unwind through its deferred
// clean-up, say so, exit with 130 (SIGINT) or 143 (SIGTERM), and leave
// nothing behind. Before the chapters handled signals, shm1 left its segment.
func TestChaptersStopCleanlyOnSignals(t *testing.T) {
	for _, chapter := range part1 {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(chapter+"/"+sig.String(), func(t *testing.T) {
				t.Parallel()
				tag := "sig" + randomHex(4)
				prefix := "mp-" + tag + "-"
				cmd := exec.Command(filepath.Join(binDir, chapter))
				// With its pauses (MP_FAST unset), so that it is mid-story.
				cmd.Env = append(withoutEnv("MP_FAST"), "MP_TEST_TAG="+tag, "MP_SHM_PREFIX="+prefix)
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a process group, as a shell makes
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				require.NoError(t, cmd.Start())
				waitForBackend(t, tag, "mp:"+chapter+"/my-process")
				if sig == syscall.SIGINT {
					require.NoError(t, syscall.Kill(-cmd.Process.Pid, sig)) // Ctrl-C: the whole group
				} else {
					require.NoError(t, cmd.Process.Signal(sig))
				}
				err := cmd.Wait()
				want := 130
				if sig == syscall.SIGTERM {
					want = 143
				}
				var ee *exec.ExitError
				require.ErrorAs(t, err, &ee, "%s", out.String())
				assert.Equal(t, want, ee.ExitCode(), "%s", out.String())
				assert.Contains(t, out.String(), "main [front] - INFO - stopped: "+sigText(sig)+" signal received; everything is cleaned up")
				assertNothingLeft(t, tag, prefix)
			})
		}
	}
}

// Fault: the chapter's output is a pipe that closes early (chapter | head
// -1). Writing to it used to kill the backend and then the frontend with
// SIGPIPE, leaving shm1's segment behind. Every chapter must finish its
// story (its lines are dropped) and exit 0, leaving nothing.
func TestChaptersSurviveAClosedStdout(t *testing.T) {
	for _, chapter := range part1 {
		t.Run(chapter, func(t *testing.T) {
			t.Parallel()
			tag := "pipe" + randomHex(4)
			prefix := "mp-" + tag + "-"
			cmd := exec.Command("bash", "-c", `"$0" | head -1; echo "status ${PIPESTATUS[0]}" >&2`, filepath.Join(binDir, chapter))
			cmd.Env = append(os.Environ(), "MP_FAST=1", "MP_TEST_TAG="+tag, "MP_SHM_PREFIX="+prefix)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run())
			assert.Equal(t, 1, strings.Count(stdout.String(), "\n"), "head printed one line")
			assert.Equal(t, "status 0\n", stderr.String())
			assertNothingLeft(t, tag, prefix)
		})
	}
}

// Fault: a chapter that runs until it is stopped (main1 in main mode, names)
// writes to a pipe whose reader has gone (chapter | head -1). Its writes
// fail quietly, so it used to run on, unread, until a signal. It must end
// as cleanly: status 0, nothing left.
func TestLongChaptersEndWhenTheirStdoutCloses(t *testing.T) {
	for _, chapter := range []string{"main1", "names"} {
		t.Run(chapter, func(t *testing.T) {
			t.Parallel()
			tag := "pipe" + randomHex(4)
			prefix := "mp-" + tag + "-"
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", `"$0" | head -1 >/dev/null; echo "status ${PIPESTATUS[0]}" >&2`, filepath.Join(binDir, chapter))
			cmd.Env = append(withoutEnv("MP_FAST"), "MP_TEST_TAG="+tag, "MP_SHM_PREFIX="+prefix)
			defer assertNothingLeft(t, tag, prefix) // also on failure: it kills what is left
			cmd.WaitDelay = time.Second             // the chapter, not bash, may hold stderr
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			require.NoError(t, ctx.Err(), "still running 20 s after its output closed")
			require.NoError(t, err)
			assert.Equal(t, "status 0\n", stderr.String())
		})
	}
}

func sigText(sig syscall.Signal) string {
	if sig == syscall.SIGINT {
		return "interrupt"
	}
	return sig.String()
}

// waitForBackend waits until a process of tag with argv[0] argv0 runs and
// has named its main thread "mp:<name>" (the mp package's initialization
// does that, and from then on the backend leaves Ctrl-C to its frontend;
// before it, between exec and the Go runtime's start, no program can catch
// a signal). A bounded poll, as nothing better exists: no event tells
// another process of an exec(2) or a thread's new name (the kernel's proc
// connector does, but only to root and machine-wide), and the chapters
// print no common line at that moment.
func waitForBackend(t *testing.T, tag, argv0 string) {
	t.Helper()
	_, name, _ := strings.Cut(argv0, "/")
	comm := "mp:" + name
	if len(comm) > 15 {
		comm = comm[:15]
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, p := range taggedProcesses(tag) {
			pid, a, _ := strings.Cut(p, " ")
			if c, _ := os.ReadFile("/proc/" + pid + "/comm"); a == argv0 && strings.TrimSpace(string(c)) == comm {
				return
			}
		}
	}
	t.Fatalf("no process %s within 10 s", argv0)
}

// assertNothingLeft checks, for up to a second, that no process of tag and
// no segment with prefix is left (and removes such segments, so that a
// failure does not leak past the test).
func assertNothingLeft(t *testing.T, tag, prefix string) {
	t.Helper()
	procs := waitNoProcesses(tag)
	assert.Empty(t, procs, "processes left behind")
	assert.Empty(t, removeSegments(prefix), "segments left behind")
	for _, p := range procs {
		if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
