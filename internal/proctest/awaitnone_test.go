package proctest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startTagged starts a shell tagged tag that says it runs and then waits
// for its stdin to close, and returns it and its stdin.
func startTagged(t *testing.T, tag string) (*exec.Cmd, io.Closer) {
	t.Helper()
	cmd := exec.Command("sh", "-c", "echo running; read x")
	cmd.Env = append(os.Environ(), TagVar+"="+tag)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "running\n", line)
	return cmd, stdin
}

// TestAwaitNone: with two tagged processes running, a bound of 0 returns
// both without waiting, and a short bound returns both once it has passed;
// AwaitNone returns nil as soon as both have ended while it waits (each end wakes it),
// long before its bound of a minute.
func TestAwaitNone(t *testing.T) {
	tag := "awaitnone-" + strconv.Itoa(os.Getpid())
	list := func() []int { return Tagged(tag) }
	a, aIn := startTagged(t, tag)
	b, bIn := startTagged(t, tag)
	both := []int{a.Process.Pid, b.Process.Pid}

	left, err := AwaitNone(list, 0)
	require.NoError(t, err)
	assert.ElementsMatch(t, both, left)
	start := time.Now()
	left, err = AwaitNone(list, 50*time.Millisecond)
	require.NoError(t, err)
	assert.ElementsMatch(t, both, left)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "returned before its bound")

	type result struct {
		left []int
		err  error
	}
	done := make(chan result, 1)
	go func() { l, err := AwaitNone(list, time.Minute); done <- result{l, err} }()
	aIn.Close() // a's read ends, and so does a (a zombie until cleanup)
	bIn.Close()
	select {
	case r := <-done:
		require.NoError(t, r.err)
		assert.Empty(t, r.left)
	case <-time.After(30 * time.Second):
		t.Fatal("AwaitNone still waiting 30 s after both processes ended")
	}
}
