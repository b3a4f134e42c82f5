package proctest

import (
	"bufio"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestAwaitGoneBounds: a bound of 0 (or less) looks once and does not
// wait; a process that is not our child (a grandchild, reparented when its
// parent exits) is reported gone as soon as it ends, though we cannot
// reap it.
func TestAwaitGoneBounds(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	start := time.Now()
	assert.False(t, AwaitGone(t, cmd.Process.Pid, 0))
	assert.False(t, AwaitGone(t, cmd.Process.Pid, -time.Second))
	assert.Less(t, time.Since(start), 5*time.Second, "a bound of 0 waited")

	// sh starts sleep in the background, says its PID, and exits: the
	// sleep is nobody's child of ours.
	sh := exec.Command("sh", "-c", "sleep 60 & echo $!")
	out, err := sh.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, sh.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.NoError(t, sh.Wait())
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err)
	assert.False(t, AwaitGone(t, pid, 0), "the grandchild runs")
	require.NoError(t, unix.Kill(pid, unix.SIGKILL))
	assert.True(t, AwaitGone(t, pid, 10*time.Second), "a killed grandchild")
}
