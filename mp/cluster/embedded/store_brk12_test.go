package embedded_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envKilledServer makes TestHelperKilledServer a program that starts a
// server, says "ready", and waits to be killed.
const envKilledServer = "MP_EMBEDDED_BRK12_KILLED_SERVER"

// TestHelperKilledServer is the program TestStoreOfKilledServerRemoved
// kills; run alone it does nothing.
func TestHelperKilledServer(t *testing.T) {
	if os.Getenv(envKilledServer) == "" {
		return
	}
	if _, err := embedded.Start(embedded.Config{}); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {} // until SIGKILL
}

// Fault: a program with an embedded server is killed with SIGKILL (or
// crashes, or is a test binary killed at its timeout): its deferred
// Shutdown never runs, and its temporary JetStream store stays in $TMPDIR.
// The next Start, in any program, removes it, and leaves alone the store
// of a server that still runs. Before, every such kill left a directory
// of streams behind for good.
func TestStoreOfKilledServerRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	stores := func() []string {
		m, err := filepath.Glob(filepath.Join(tmp, "mp-nats-*"))
		require.NoError(t, err)
		return m
	}
	live, err := embedded.Start(embedded.Config{})
	require.NoError(t, err)
	defer live.Shutdown()
	liveStore := stores()
	require.Len(t, liveStore, 1)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKilledServer$")
	cmd.Env = append(os.Environ(), envKilledServer+"=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	require.Len(t, stores(), 2, "the live server's store and the killed one's")

	next, err := embedded.Start(embedded.Config{})
	require.NoError(t, err)
	assert.Len(t, stores(), 2, "the live server's store and the next one's")
	next.Shutdown()
	assert.Equal(t, liveStore, stores(), "the live server's store only")
	_, err = os.Stat(filepath.Join(liveStore[0], "jetstream"))
	require.NoError(t, err, "the live server's store is whole")
	live.Shutdown()
	assert.Empty(t, stores())
}

// Fault: two programs start a server on the same Config.StoreDir (a
// fixed store, to keep the streams across restarts, and the program run
// twice). The second Start fails with ErrStart saying the store is in
// use; once the first server is shut down, the store can be used again.
// A StoreDir is never removed as an orphan, even one named like a
// temporary store. Before, both servers started on the one store, which
// JetStream does not guard: each saw its own streams, and their files
// were written by both.
func TestStoreDirSharedRefused(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := filepath.Join(tmp, "mp-nats-mine")
	first, err := embedded.Start(embedded.Config{StoreDir: dir})
	require.NoError(t, err)
	second, err := embedded.Start(embedded.Config{StoreDir: dir})
	if err == nil {
		second.Shutdown()
	}
	require.ErrorIs(t, err, embedded.ErrStart)
	assert.Contains(t, err.Error(), "JetStream store "+dir+" is used by another running server")
	first.Shutdown()

	temp, err := embedded.Start(embedded.Config{}) // removes orphans
	require.NoError(t, err)
	temp.Shutdown()
	_, err = os.Stat(filepath.Join(dir, "jetstream"))
	require.NoError(t, err, "the StoreDir is kept")
	again, err := embedded.Start(embedded.Config{StoreDir: dir})
	require.NoError(t, err)
	again.Shutdown()
}
