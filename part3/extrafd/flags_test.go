package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// usageLine returns the first line of parseFlags's usage error for args,
// failing the test if args are accepted.
func usageLine(t *testing.T, args ...string) string {
	t.Helper()
	_, err := parseFlags(args)
	require.Error(t, err, "%q accepted", args)
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// Fault: -client with the server's flags (-demo, -port, -workers, ...)
// ran the client and ignored them without a word, and -client with an
// empty address ran a server instead (and, given commands, blamed them on
// a missing -client). Both are usage errors that say what is wrong.
func TestClientTakesNoServerFlags(t *testing.T) {
	assert.Equal(t, "extrafd: -demo, -port: the server's flags, not a client's (-client takes an address and commands)",
		usageLine(t, "-client", "127.0.0.1:1", "-port", "7070", "-demo", "status"))
	assert.Equal(t, "extrafd: -client wants the server's address (127.0.0.1:PORT, or @FILE)",
		usageLine(t, "-client", "", "status"))
	cfg, err := parseFlags([]string{"-client", "@addr", "status", "quit"})
	require.NoError(t, err)
	assert.Equal(t, []string{"status", "quit"}, cfg.lines)
	_, err = parseFlags([]string{"-client", "localhost:7070", "status"})
	assert.NoError(t, err)
}

// Fault: -client with no port (-client 127.0.0.1, -client bad, or a port
// alone left empty: -client 127.0.0.1:) got as far as dialing, and failed
// with status 1 and net's "missing port in address": a bad flag value
// reported as a failure of the run. It is a usage error (status 2) that
// says what an address looks like.
func TestClientAddressNeedsAPort(t *testing.T) {
	for _, bad := range []string{"bad", "127.0.0.1", "127.0.0.1:", "[::1"} {
		assert.Equal(t, "extrafd: -client \""+bad+"\": want the server's address as HOST:PORT (127.0.0.1:7070), or @FILE",
			usageLine(t, "-client", bad, "status"))
	}
	cfg, err := parseFlags([]string{"-client", "[::1]:7070", "status"})
	require.NoError(t, err)
	assert.Equal(t, "[::1]:7070", cfg.client)
}

// Fault: a bad -idle-timeout, -sensor-backoff or -shutdown-timeout got one
// message for all three ("-idle-timeout and -sensor-backoff must be
// positive, -shutdown-timeout not negative"), which named neither the flag
// given nor its value; and -task-ms had no upper bound, although every task
// times out after a minute: -task-ms 70000 made every task fail a minute
// later, and a value past 2^63 ns wrapped around to a task of no time at all.
func TestEachBadValueNamesItsFlag(t *testing.T) {
	for args, want := range map[[2]string]string{
		{"-idle-timeout", "0s"}:        "extrafd: -idle-timeout 0s: want more than 0",
		{"-sensor-backoff", "-1s"}:     "extrafd: -sensor-backoff -1s: want more than 0",
		{"-shutdown-timeout", "-2s"}:   "extrafd: -shutdown-timeout -2s: want 0 or more",
		{"-task-ms", "70000"}:          "extrafd: -task-ms 70000: want 0 to 30000 (a task times out after 1m0s)",
		{"-task-ms", "99999999999999"}: "extrafd: -task-ms 99999999999999: want 0 to 30000 (a task times out after 1m0s)",
		{"-task-ms", "-1"}:             "extrafd: -task-ms -1: want 0 to 30000 (a task times out after 1m0s)",
	} {
		assert.Equal(t, want, usageLine(t, args[0], args[1]))
	}
	_, err := parseFlags([]string{"-task-ms", "30000", "-shutdown-timeout", "0s"})
	assert.NoError(t, err, "the bounds themselves are accepted")
	assert.Less(t, time.Duration(maxTaskMillis)*time.Millisecond, taskTimeout)
}

// Fault: -addr-file naming a file that cannot be written (here, in a
// directory that does not exist) was ignored: the program ran on, and the
// script waiting for the file waited for ever. Now run stops once ready and
// returns the error, which names the flag.
func TestUnwritableAddrFileStopsTheProgram(t *testing.T) {
	cfg, err := parseFlags([]string{"-workers", "1", "-task-ms", "1",
		"-addr-file", filepath.Join(t.TempDir(), "missing", "addr")})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, cfg, mplog.New("main", mplog.Front)) }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "-addr-file: open ")
		assert.ErrorIs(t, err, os.ErrNotExist)
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		t.Fatal("still running 30 s after start with an -addr-file it cannot write")
	}
	assert.Empty(t, proctest.Tagged(os.Getenv(proctest.TagVar)), "processes left")
}
