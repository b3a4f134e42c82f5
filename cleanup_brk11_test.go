package chapters_test

import (
	"testing"

	"github.com/mpgo/mp/mp/shm"
	"github.com/stretchr/testify/assert"
)

// TestCleanupBadEnvPrefixLeavesHelpAndFlag: a MP_SHM_PREFIX the library
// refuses (mp-alice, its last '-' forgotten) does not stop cleanup.bash
// from printing its help, nor from taking a good prefix given with
// --prefix; used as the default, it is still a usage error. The fault it
// checks: the environment's prefix was checked before the options were
// read, so --help failed with "Try 'aux/cleanup.bash --help'" and --prefix
// could not override it (0332006 made mp-alice, mp-x and the like refused).
func TestCleanupBadEnvPrefixLeavesHelpAndFlag(t *testing.T) {
	t.Setenv(shm.PrefixEnv, "mp-alice")
	help := runCleanup(t, "--help")
	assert.Equal(t, 0, help.code, "--help: %s", help.stderr)
	assert.Contains(t, help.stdout, "Usage: aux/cleanup.bash")

	prefix := testPrefix(t)
	byFlag := runCleanup(t, "--dry-run", "--segments-only", "--prefix", prefix)
	assert.Equal(t, 0, byFlag.code, "--prefix %s: %s", prefix, byFlag.stderr)

	byEnv := runCleanup(t, "--dry-run", "--segments-only")
	assert.Equal(t, 2, byEnv.code, "the environment's prefix as the default: %s", byEnv.stderr)
	assert.Contains(t, byEnv.stderr, `MP_SHM_PREFIX must be "mp-" followed by words`)
}
