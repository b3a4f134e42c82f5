package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a run with -url-file ends (here by its -timeout, with no worker
// host). The file, which holds the server's URL and token, goes with the
// server; it used to stay behind, a stale URL with its token (brk12c left
// it alone). A file that another run has written since is not removed.
func TestURLFileGoesWithTheServer(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	file := filepath.Join(dir, "url")
	cfg, err := parseFlags([]string{"-workers", "0", "-hosts", "1", "-timeout", "300ms", "-url-file", file})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.Error(t, run(ctx, nil, cfg, mplog.New("main", mplog.Front)))
	assert.NoFileExists(t, file)

	require.NoError(t, os.WriteFile(file, []byte("nats://another-run:4222\n"), 0o600))
	removeURLFile(file, "nats://127.0.0.1:4222")
	assert.FileExists(t, file, "another run's file is left alone")
}
