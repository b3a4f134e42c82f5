package proctest

import (
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A tagged child is found while it runs, not once it has exited (a zombie
// until it is reaped), and never this process itself.
func TestTagged(t *testing.T) {
	tag := "proctest-" + strconv.Itoa(os.Getpid())
	t.Setenv(TagVar, tag)
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	assert.Equal(t, []int{cmd.Process.Pid}, Tagged(tag))
	assert.True(t, Alive(cmd.Process.Pid))

	// Dead but not reaped (waitid with WNOWAIT leaves it a zombie).
	require.NoError(t, cmd.Process.Kill())
	var info unix.Siginfo
	require.NoError(t, unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil))
	assert.Empty(t, Tagged(tag), "a zombie counts as live")
	assert.False(t, Alive(cmd.Process.Pid))
}
