package mp

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: the frontend goes away without calling Stop — it returns from main,
// panics, calls os.Exit, or is ended by SIGTERM or SIGHUP (a service
// manager, a closed terminal). Its backend must still run its post-run hook
// (which creates a marker file here) and exit. With SIGKILL as the
// parent-death signal, the hook never ran on any of these paths.
func TestFrontendGoneWithoutStopRunsPostRun(t *testing.T) {
	for _, how := range []string{"return", "panic", "exit", "sigterm", "sighup"} {
		t.Run(how, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "post-run")
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), envHelper+"=exitpath-"+how, "MP_TEST_MARKER="+marker)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			line, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err)
			pidText, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
			require.True(t, ok, "helper said %q", line)
			backend, err := strconv.Atoi(pidText)
			require.NoError(t, err)
			switch how {
			case "sigterm":
				require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			case "sighup":
				require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
			}
			cmd.Wait() // the frontend is gone, one way or another

			// The backend ends promptly (SIGTERM ends the idle loop), having
			// run its post-run hook, which writes the marker before it returns.
			require.True(t, proctest.AwaitGone(t, backend, 2*time.Second), "backend still alive 2 s after the frontend's end")
			assert.FileExists(t, marker, "the post-run hook did not run")
			requireNoLeftovers(t)
		})
	}
}
