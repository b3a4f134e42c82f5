package chapters_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memRow is one process as aux/memwatch.bash reports it, in KiB; its JSON
// form is one line of --json.
type memRow struct {
	PID     int    `json:"pid"`
	Program string `json:"program"`
	Name    string `json:"name"`
	State   string `json:"state"`
	RSS     int    `json:"rss_kib"`
	PSS     int    `json:"pss_kib"`
	USS     int    `json:"uss_kib"`
	Shmem   int    `json:"shmem_kib"`
	Source  string `json:"source"`
}

// startNames runs the names chapter until the test ends (then stops it with
// SIGTERM, which it must take as Ctrl-C), and returns its PID and its
// workers' PIDs by name, once every worker has run its pre-run hook.
func startNames(t *testing.T, workers int) (int, map[string]int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "names"), "-workers", strconv.Itoa(workers))
	cmd.Env = append(withoutEnv("MP_FAST"), "MP_TEST_TAG=memwatch-"+randomHex(4))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())

	// The frontend prints "look at them" once Start has returned for every
	// worker, that is, after every pre-run hook touched its memory.
	lines := make(chan string)
	var out strings.Builder
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	ready := false
	for !ready {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "names ended early:\n%s", out.String())
			out.WriteString(l + "\n")
			ready = strings.Contains(l, "look at them")
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("names never said its workers run:\n%s", out.String())
		}
	}
	t.Cleanup(func() {
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		for l := range lines {
			out.WriteString(l + "\n")
		}
		// Handled, cleaned up, and said so: 128 + SIGTERM, as a shell
		// reports a program killed by it.
		err := cmd.Wait()
		assert.Equal(t, 143, cmd.ProcessState.ExitCode(), "names ends on SIGTERM (%v):\n%s", err, out.String())
		assert.Contains(t, out.String(), "main [front] - INFO - stopping the workers\n")
		assert.Contains(t, out.String(), "main [front] - INFO - stopped: terminated signal received; everything is cleaned up\n")
	})

	pids := map[string]int{}
	for i := 1; i <= workers; i++ {
		name := fmt.Sprintf("worker-%d", i)
		pids[name] = waitForChild(t, cmd.Process.Pid, "mp:names/"+name)
	}
	return cmd.Process.Pid, pids
}

// runMemwatch runs aux/memwatch.bash --once for one frontend, with the
// numbers taken from source ("proc" or "smem").
func runMemwatch(t *testing.T, source string, frontend int, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"aux/memwatch.bash", "--once", "--frontend", strconv.Itoa(frontend)}, args...)...)
	cmd.Env = append(os.Environ(), "MEMWATCH_SOURCE="+source)
	out, err := cmd.Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "%s", stderr)
	return string(out)
}

var tableRow = regexp.MustCompile(`(?m)^(\S+)\s+(worker-\d+|\(frontend\))\s+(\d+)\s+([A-Z])\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`)

// parseTable reads the process rows of memwatch's table, by name.
func parseTable(table string) map[string]memRow {
	rows := map[string]memRow{}
	for _, m := range tableRow.FindAllStringSubmatch(table, -1) {
		n := make([]int, 9)
		for i := 5; i <= 8; i++ {
			n[i], _ = strconv.Atoi(m[i])
		}
		pid, _ := strconv.Atoi(m[3])
		rows[m[2]] = memRow{PID: pid, Program: m[1], Name: m[2], State: m[4], RSS: n[5], PSS: n[6], USS: n[7], Shmem: n[8]}
	}
	return rows
}

// checkRows checks what memwatch says of the names chapter: every worker, by
// its PID, with memory, its share of the shared table, and the private
// buffer that grows with its number.
func checkRows(t *testing.T, rows map[string]memRow, frontend int, workers map[string]int) {
	t.Helper()
	require.Len(t, rows, len(workers)+1, "the workers and their frontend: %v", rows)
	assert.Equal(t, frontend, rows["(frontend)"].PID)
	for name, pid := range workers {
		r := rows[name]
		assert.Equal(t, pid, r.PID, name)
		assert.Equal(t, "names", r.Program, name)
		assert.Positive(t, r.PSS, name)
		// The table counts in full in RSS, for a quarter in PSS.
		assert.Greater(t, r.RSS-r.PSS, 2048, "%s: RSS %d, PSS %d", name, r.RSS, r.PSS)
		assert.LessOrEqual(t, r.USS, r.PSS, name)
		// The 4 MiB table is shared by the frontend and every worker.
		assert.InDelta(t, 4096/(len(workers)+1), r.Shmem, 64, "%s: its share of the table", name)
	}
	// Worker 3 holds 2 MiB more of its own than worker 1.
	assert.Greater(t, rows["worker-3"].USS, rows["worker-1"].USS+1800, "USS grows with the private buffer")
}

// TestMemwatchListsNamesChapter runs memwatch --once on the names chapter,
// with the /proc fallback, with smem, and as JSON.
func TestMemwatchListsNamesChapter(t *testing.T) {
	frontend, workers := startNames(t, 3)

	t.Run("proc", func(t *testing.T) {
		out := runMemwatch(t, "proc", frontend)
		assert.Contains(t, out, "from /proc/<pid>/smaps_rollup\n")
		checkRows(t, parseTable(out), frontend, workers)
		assert.Regexp(t, `(?m)^\s+total names \(4\)(\s+\d+){4}$`, out)
	})

	t.Run("smem", func(t *testing.T) {
		if _, err := exec.LookPath("smem"); err != nil {
			t.Skip("smem is not installed (make tools installs it): only the /proc fallback is tested")
		}
		out := runMemwatch(t, "smem", frontend)
		assert.Contains(t, out, "from smem (SHMEM from /proc/<pid>/smaps_rollup)\n")
		checkRows(t, parseTable(out), frontend, workers)
	})

	t.Run("json", func(t *testing.T) {
		out := runMemwatch(t, "proc", frontend, "--json")
		rows := map[string]memRow{}
		for _, line := range lines(out) {
			var r memRow
			require.NoError(t, json.Unmarshal([]byte(line), &r), "%q", line)
			assert.Equal(t, "proc", r.Source)
			assert.NotEmpty(t, r.State)
			rows[r.Name] = r
		}
		checkRows(t, rows, frontend, workers)
	})
}

// TestMemwatchUsage: --help prints the help on stdout and succeeds; an
// unknown option is a usage error.
func TestMemwatchUsage(t *testing.T) {
	out, err := exec.Command("bash", "aux/memwatch.bash", "--help").Output()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "Usage: aux/memwatch.bash"))
	for _, opt := range []string{"--once", "--json", "--interval", "--proc", "MEMWATCH_SOURCE", "--match", "--frontend", "--all-users", "--any-prefix", "MP_SHM_PREFIX", "Pss_Shmem"} {
		assert.Contains(t, string(out), opt)
	}
	cmd := exec.Command("bash", "aux/memwatch.bash", "--bogus")
	out, err = cmd.CombinedOutput()
	assert.Equal(t, 2, cmd.ProcessState.ExitCode(), "%v", err)
	assert.Contains(t, string(out), "unknown option '--bogus'")
}

// TestMemwatchWritesNoEscapesIntoAPipe: refreshing live into a pipe (or a
// file), memwatch prints one table after another, without the terminal's
// clear-screen escapes.
func TestMemwatchWritesNoEscapesIntoAPipe(t *testing.T) {
	cmd := exec.Command("bash", "aux/memwatch.bash", "--interval", "0.05", "--proc", "--match", "^mp:nobody-"+randomHex(4)+"/")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// Two refreshes' worth of output: the header line twice.
	var got strings.Builder
	buf := make([]byte, 4096)
	for strings.Count(got.String(), "PID") < 2 {
		n, err := out.Read(buf)
		got.Write(buf[:n])
		require.NoError(t, err, "memwatch ended early:\n%s", got.String())
	}
	assert.NotContains(t, got.String(), "\033[", "escapes written into a pipe")
}

// startFake starts a process that looks like a backend to memwatch
// (argv[0] mp:<program>/worker-1), with MP_SHM_PREFIX=prefix, as user uid
// (-1: ours), until the test ends.
func startFake(t *testing.T, program, prefix string, uid int) {
	t.Helper()
	// bash under that argv[0] (os/exec passes Args[0] as it is), which says
	// when it runs and then waits for its stdin to close: once the line has
	// come, its argv and environment are those memwatch reads in /proc
	// (right after exec(2), /proc/<pid>/cmdline and environ can read empty).
	cmd := exec.Command("bash", "-c", "echo running; read -r _")
	cmd.Args[0] = "mp:" + program + "/worker-1"
	cmd.Env = append(os.Environ(), "MP_SHM_PREFIX="+prefix)
	if uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the fake backend did not start")
	require.Equal(t, "running\n", line)
	require.Equal(t, "mp:"+program+"/worker-1", argv0Of(cmd.Process.Pid))
}

// memwatchRows runs memwatch --once for the processes of program, with
// MP_SHM_PREFIX=prefix and the extra options, and returns the names of
// the processes it lists.
func memwatchRows(t *testing.T, program, prefix string, opts ...string) []string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"aux/memwatch.bash", "--once", "--proc", "--json", "--match", "^mp:" + program + "/"}, opts...)...)
	cmd.Env = append(os.Environ(), "MP_SHM_PREFIX="+prefix)
	out, err := cmd.Output()
	require.NoError(t, err)
	var names []string
	for _, line := range lines(string(out)) {
		var r memRow
		require.NoError(t, json.Unmarshal([]byte(line), &r), "%q", line)
		names = append(names, r.Name)
	}
	return names
}

// TestMemwatchShowsOnlyOurs: on a machine shared by a workshop, memwatch
// lists the processes of the user who runs it, with the shared-memory
// prefix of its environment; --any-prefix and --all-users widen it. The
// other user's process needs root to start (and to read its memory).
func TestMemwatchShowsOnlyOurs(t *testing.T) {
	program := "fake" + randomHex(4)
	mine, other := "mp-"+program+"a-", "mp-"+program+"b-"
	startFake(t, program, other, -1)
	assert.Empty(t, memwatchRows(t, program, mine), "another prefix's process listed")
	assert.Equal(t, []string{"worker-1"}, memwatchRows(t, program, other))
	assert.Equal(t, []string{"worker-1"}, memwatchRows(t, program, mine, "--any-prefix"))

	if os.Getuid() != 0 {
		t.Skip("not root: cannot start a process as another user")
	}
	program += "u"
	startFake(t, program, mine, 65534)
	assert.Empty(t, memwatchRows(t, program, mine), "another user's process listed")
	assert.Equal(t, []string{"worker-1"}, memwatchRows(t, program, mine, "--all-users"))
}
