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

// Fault: -hosts names more worker hosts than ever come (the other host was
// never started, or failed), with -timeout set to bound the run. The run
// gives up after -timeout, and says so. Before, -timeout bounded only the
// wait for the results: the wait for the hosts lasted until Ctrl-C (the
// chapter's scripts, which pass -timeout as their guard, hung there).
func TestTimeoutBoundsWaitForHosts(t *testing.T) {
	cfg, err := parseFlags([]string{"-workers", "0", "-hosts", "1", "-timeout", "1s"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Setenv("TMPDIR", t.TempDir())
	err = run(ctx, nil, cfg, mplog.New("main", mplog.Front))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "waiting for 1 worker hosts serving work, 0 answered: -timeout 1s passed")
	assert.NoError(t, ctx.Err(), "ended by -timeout, not by the test's guard")
}

// Fault: the -url-file named exists with mode 0644 (made by an earlier
// command, or by another user in /tmp), or is a symbolic link. The URL,
// token included, is written with mode 0600 as the flag promises, and a
// link is replaced, its target left alone. Before, os.WriteFile kept the
// file's 0644 (the token readable by every user) and wrote through the
// link into its target.
func TestURLFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	cfg, err := parseFlags(nil)
	require.NoError(t, err)
	log := mplog.New("main", mplog.Front)

	cfg.urlFile = filepath.Join(dir, "url")
	require.NoError(t, os.WriteFile(cfg.urlFile, []byte("old\n"), 0o644))
	srv, err := startServer(cfg, log)
	require.NoError(t, err)
	defer srv.Shutdown()
	st, err := os.Stat(cfg.urlFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	b, err := os.ReadFile(cfg.urlFile)
	require.NoError(t, err)
	assert.Equal(t, srv.URL()+"\n", string(b))

	victim := filepath.Join(dir, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("theirs\n"), 0o644))
	cfg.urlFile = filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(victim, cfg.urlFile))
	srv2, err := startServer(cfg, log)
	require.NoError(t, err)
	defer srv2.Shutdown()
	b, err = os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "theirs\n", string(b), "the link's target is left alone")
	st, err = os.Lstat(cfg.urlFile)
	require.NoError(t, err)
	assert.True(t, st.Mode().IsRegular(), "the link is replaced by a file")
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}
