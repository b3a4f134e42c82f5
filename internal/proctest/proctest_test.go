package proctest

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A tagged child is found while it runs, not once it has exited (a zombie
// until it is reaped), and never this process itself. The child says when
// it runs: right after exec(2) returns to the parent, the kernel has not yet
// set up the new program's environment, and /proc/<pid>/environ reads empty
// (make stress caught "expected [19183], actual nil" once in 20 load runs).
func TestTagged(t *testing.T) {
	tag := "proctest-" + strconv.Itoa(os.Getpid())
	t.Setenv(TagVar, tag)
	cmd := exec.Command("sh", "-c", "echo running; read x")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "running\n", line)
	assert.Equal(t, []int{cmd.Process.Pid}, Tagged(tag))
	assert.True(t, Alive(cmd.Process.Pid))

	// Dead but not reaped (waitid with WNOWAIT leaves it a zombie).
	require.NoError(t, cmd.Process.Kill())
	var info unix.Siginfo
	require.NoError(t, unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil))
	assert.Empty(t, Tagged(tag), "a zombie counts as live")
	assert.False(t, Alive(cmd.Process.Pid))
}

// TestAwaitGone: a live process is not reported gone when the bound passes,
// and is as soon as it ends, before it is reaped and after.
func TestAwaitGone(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	assert.False(t, AwaitGone(t, pid, 10*time.Millisecond), "sleep 60 ended early")
	require.NoError(t, cmd.Process.Kill())
	assert.True(t, AwaitGone(t, pid, 10*time.Second), "a killed process, not yet reaped")
	cmd.Wait()
	assert.True(t, AwaitGone(t, pid, time.Second), "a reaped process")
}
