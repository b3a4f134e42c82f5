package mp

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The library's packages link no C library. An import of net (which
// github.com/prometheus/procfs makes, for one) would link runtime/cgo into
// every binary of the library's users, workers included: each dynamically
// linked, with a loader to run at each start and half a MiB more of each
// worker's PSS (see part2/main1's workersPSS, which avoids procfs for that
// reason).
func TestLibraryLinksNoCLibrary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the packages with")
	}
	out, err := exec.Command("go", "list", "-deps", ".", "./shm", "./manager").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, pkg := range strings.Fields(string(out)) {
		require.NotContains(t, []string{"net", "runtime/cgo"}, pkg,
			"the library imports %s: every binary that uses it links the C library", pkg)
	}
}
