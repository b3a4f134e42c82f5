package chapters_test

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: aux/cleanup.bash and aux/memwatch.bash took a --match that is no
// regular expression (an unclosed parenthesis or bracket) without a word:
// bash's =~ fails on it as on a mismatch, so the clean-up stopped nothing
// and memwatch said "no processes of ours", both with status 0. It is a
// usage error (status 2) that names the option and the expression; a
// valid --match is still taken.
func TestAuxScriptsRejectABadMatch(t *testing.T) {
	for script, args := range map[string][]string{
		"cleanup":  {"--dry-run", "--processes-only", "--match"},
		"memwatch": {"--once", "--match"},
	} {
		for _, bad := range []string{"^mp:(", "^mp:x["} {
			cmd := exec.Command("bash", append([]string{"aux/" + script + ".bash"}, append(args, bad)...)...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "%s --match %q: %v\n%s", script, bad, err, out)
			assert.Equal(t, 2, exit.ExitCode(), "%s --match %q: %s", script, bad, out)
			assert.Contains(t, string(out), script+".bash: --match: '"+bad+"' is not a valid extended regular expression\n")
		}
		cmd := exec.Command("bash", append([]string{"aux/" + script + ".bash"}, append(args, "^mp:(nothing|of)-p3w13/")...)...)
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s with a valid --match: %s", script, out)
	}
}
