package shm

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mpgo/mp/internal/initcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a backend whose main forgot mp.Init runs main as if it were the
// frontend, inside the child, and creates a named ring there. Create stops
// such a process (initcheck.Require: exit status 5, saying what to add)
// before it makes a name that would outlive it; CreateRing, which makes a
// named segment just the same, did not: the segment was created, and left
// in /dev/shm when the process exited. CreateRing stops it as Create does.
func TestRingCreateInBackendWithoutInit(t *testing.T) {
	prefix := useShmPrefix(t)
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), envBrk12Helper+"=noinit")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the helper fails: %v, printed %q", err, out)
	assert.Equal(t, initcheck.ExitNoInit, exit.ExitCode(), "printed %q", out)
	assert.Contains(t, stderr.String(), "mp.Init")
	assert.NotContains(t, string(out), "created "+prefix)
}
