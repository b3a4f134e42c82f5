package chapters_test

import (
	"bytes"
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

// TestCleanupStopsOnlyOrphans runs aux/cleanup.bash's process half next to
// a live chapter: the backend of a running frontend is kept, and a process
// of ours whose frontend is gone is stopped.
func TestCleanupStopsOnlyOrphans(t *testing.T) {
	tag := "cleanup-" + randomHex(4)
	// An orphan: argv[0] says it is ours, but its parent (this test) runs
	// another executable, as happens when a frontend died and the backend
	// was adopted.
	orphan := exec.Command("bash", "-c", "exec -a mp:"+tag+"/orphan sleep 60")
	require.NoError(t, orphan.Start())
	defer orphan.Process.Kill()

	// Not ours, though the pattern given below matches it: argv[0] must
	// start with mp: whatever --match says.
	decoy := exec.Command("bash", "-c", "exec -a decoy-"+tag+" sleep 60")
	require.NoError(t, decoy.Start())
	defer func() { decoy.Process.Kill(); decoy.Wait() }()

	// A live frontend: ping, with its pauses, and its backend.
	ping := exec.Command(filepath.Join(binDir, "ping"))
	ping.Env = append(withoutEnv("MP_FAST"), "MP_TEST_TAG="+tag)
	var pingOut bytes.Buffer
	ping.Stdout, ping.Stderr = &pingOut, &pingOut
	require.NoError(t, ping.Start())
	defer ping.Process.Kill()
	backend := waitForChild(t, ping.Process.Pid, "mp:ping/my-process")
	waitForArgv0(t, orphan.Process.Pid, "mp:"+tag+"/orphan")
	waitForArgv0(t, decoy.Process.Pid, "decoy-"+tag)

	// --prefix keeps its segment half to this test's own (none): with the
	// default, mp-, it removed the orphaned segment that mp's
	// TestFaultFrontendKilledAfterCreate, running at the same time under
	// go test ./..., was about to look for.
	cleanup := exec.Command("bash", "aux/cleanup.bash", "--match", "^mp:("+tag+"/|ping/)|decoy-"+tag, "--prefix", "mp-"+tag+"-")
	out, err := cleanup.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "keeping pid "+strconv.Itoa(backend)+" (mp:ping/my-process): its frontend, pid "+strconv.Itoa(ping.Process.Pid)+", is alive")
	assert.Contains(t, string(out), "our orphaned processes:")
	assert.Regexp(t, `(?m)^\s*`+strconv.Itoa(orphan.Process.Pid)+`\s+\d+\s+mp:`+tag+`/orphan`, string(out))
	assert.NotContains(t, string(out), "keeping pid "+strconv.Itoa(orphan.Process.Pid))

	err = orphan.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the orphan was stopped")
	assert.Equal(t, syscall.SIGTERM, ee.Sys().(syscall.WaitStatus).Signal())

	assert.NotContains(t, string(out), strconv.Itoa(decoy.Process.Pid), "the decoy is not ours")
	assert.Equal(t, "decoy-"+tag, argv0Of(decoy.Process.Pid), "the decoy still runs")

	require.NoError(t, ping.Wait(), "ping runs to its end: %s", pingOut.String())
	assert.Contains(t, pingOut.String(), "backend stopped, bye")
}

func withoutEnv(key string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, key+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// waitForChild returns the PID of parent's child whose argv[0] is argv0,
// waiting up to ten seconds for it to appear.
func waitForChild(t *testing.T, parent int, argv0 string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil || argv0Of(pid) != argv0 {
				continue
			}
			stat, _ := os.ReadFile("/proc/" + d.Name() + "/stat")
			if i := bytes.LastIndexByte(stat, ')'); i > 0 {
				if f := strings.Fields(string(stat[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(parent) {
					return pid
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no child %q of pid %d within ten seconds", argv0, parent)
	return 0
}

func waitForArgv0(t *testing.T, pid int, argv0 string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for argv0Of(pid) != argv0 {
		require.True(t, time.Now().Before(deadline), "pid %d never became %q", pid, argv0)
		time.Sleep(5 * time.Millisecond)
	}
}

func argv0Of(pid int) string {
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	return string(argv0)
}
