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

			// The post-run hook runs promptly: SIGTERM ends the idle loop.
			deadline := time.Now().Add(2 * time.Second)
			for {
				if _, err := os.Stat(marker); err == nil {
					break
				}
				require.True(t, time.Now().Before(deadline), "post-run hook did not run within 2 s of the frontend's end")
				time.Sleep(5 * time.Millisecond)
			}
			for proctest.Alive(backend) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			assert.False(t, proctest.Alive(backend), "backend still alive")
			requireNoLeftovers(t)
		})
	}
}
