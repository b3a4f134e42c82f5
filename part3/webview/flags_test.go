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

// Fault: a negative -task-ms, -max-restarts or -shutdown-timeout got one
// message for all three ("-task-ms, -max-restarts and -shutdown-timeout
// may not be negative"), which named neither the flag given nor its value;
// and -task-ms had no upper bound, although every task times out after a
// minute: -task-ms 70000 made every task fail a minute later, and a value
// past 2^63 ns wrapped around to a task of no time at all.
func TestEachBadValueNamesItsFlag(t *testing.T) {
	for args, want := range map[[2]string]string{
		{"-task-ms", "-1"}:             "webview: -task-ms -1: want 0 to 30000 (a task times out after 1m0s)",
		{"-task-ms", "70000"}:          "webview: -task-ms 70000: want 0 to 30000 (a task times out after 1m0s)",
		{"-task-ms", "99999999999999"}: "webview: -task-ms 99999999999999: want 0 to 30000 (a task times out after 1m0s)",
		{"-max-restarts", "-1"}:        "webview: -max-restarts -1: want 0 or more",
		{"-shutdown-timeout", "-2s"}:   "webview: -shutdown-timeout -2s: want 0 or more",
	} {
		_, err := parseFlags(args[:])
		require.Error(t, err, "%q accepted", args)
		line, _, _ := strings.Cut(err.Error(), "\n")
		assert.Equal(t, want, line)
	}
	_, err := parseFlags([]string{"-task-ms", "30000", "-max-restarts", "0", "-shutdown-timeout", "0s"})
	assert.NoError(t, err, "the bounds themselves are accepted")
	assert.Less(t, time.Duration(maxTaskMillis)*time.Millisecond, taskTimeout)
}

// Fault: -addr-file naming a file that cannot be written (here, in a
// directory that does not exist) printed the error and ran on: the script
// waiting for the file waited for ever, and the program's status said
// nothing. Now run stops once ready and returns the error, which names the
// flag.
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
