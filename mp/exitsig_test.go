package mp

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFaultExitWhileSIGTERMsArriveIsClean: a backend on its way out
// (exitBackend) exits with its own status, never by a SIGTERM that arrives
// meanwhile. The manager sends one just after it closes the command pipe of
// a worker whose task timed out, so a worker that exits at once on the
// closed pipe may get it during its exit; its status must read "exit status
// 0", as docs/part2.md shows, not "signal: terminated".
//
// Fault injected: SIGTERM sent again and again, from the moment the child
// has caught its first one until it has exited, while it runs exitBackend.
// (signal.Ignore, which exitBackend used, first marks the signal as no
// longer handled by the runtime and only then sets SIG_IGN: a SIGTERM in
// between is "not handled, default action" and kills the process.)
func TestFaultExitWhileSIGTERMsArriveIsClean(t *testing.T) {
	const runs = 100
	for i := range runs {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), envHelper+"=exitunderterm")
		// A group of its own: exitBackend signals its group.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		line, err := bufio.NewReader(out).ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "ready\n", line)
		done := make(chan struct{})
		sent := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-done:
					sent <- n
					return
				default:
					if cmd.Process.Signal(syscall.SIGTERM) == nil {
						n++
					}
				}
			}
		}()
		err = cmd.Wait()
		close(done)
		n := <-sent
		require.NoError(t, err, "run %d of %d: the child ended %v after %d SIGTERMs", i+1, runs, cmd.ProcessState, n)
	}
}

// exitHelpers runs the helpers of the exit paths: "exitpath-HOW" (see
// exitPath), "deafchild" (see frontendOfADeafChild) and "exitunderterm"
// (see exitUnderTerm).
func exitHelpers(mode string) (code int, ok bool) {
	if how, ok := strings.CutPrefix(mode, "exitpath-"); ok {
		return exitPath(how), true
	}
	if mode == "deafchild" {
		return frontendOfADeafChild(), true
	}
	if mode == "exitunderterm" {
		exitUnderTerm()
	}
	return 0, false
}

// exitUnderTerm is the child of TestFaultExitWhileSIGTERMsArriveIsClean: it
// catches SIGTERM as a backend does, says it is ready, and once the first
// SIGTERM has come, exits through exitBackend with status 0.
func exitUnderTerm() {
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	fmt.Println("ready")
	<-terms
	exitBackend(0)
}
