package chapters_test

import (
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: on an account shared by a workshop, aux/cleanup.bash run under a
// participant's prefix (MP_SHM_PREFIX, or --prefix) used to stop every
// orphaned mp: process of the user, whatever prefix the process itself
// carried: another participant's backends, and those of a run without a
// prefix, went with hers, though its help promised that it "touches only
// theirs". Three orphans, with alice's prefix, bob's and none: alice's
// clean-up, with her prefix in MP_SHM_PREFIX and then given as --prefix,
// stops hers alone and leaves the others running; without any prefix (mp-,
// the default), it stops them all, whatever prefix they carry, as it
// removes every mp- segment.
func TestCleanupStopsOnlyTheProcessesOfItsPrefix(t *testing.T) {
	for _, how := range []string{"MP_SHM_PREFIX", "--prefix"} {
		t.Run(how, func(t *testing.T) {
			alice, bob := testPrefix(t), testPrefix(t)
			tag := "cu" + randomHex(4)
			hers := startOrphan(t, tag, "alice", alice)
			bobs := startOrphan(t, tag, "bob", bob)
			none := startOrphan(t, tag, "none", "")

			args := []string{"--processes-only", "--match", "^mp:" + tag + "/"}
			env := withoutEnv("MP_SHM_PREFIX")
			if how == "--prefix" {
				args = append(args, "--prefix", alice)
			} else {
				env = append(env, "MP_SHM_PREFIX="+alice)
			}
			cmd := exec.Command("bash", append([]string{"aux/cleanup.bash"}, args...)...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "stopping pid "+strconv.Itoa(hers.Process.Pid)+" (mp:"+tag+"/alice 60)")
			assert.Contains(t, string(out), "stopped 1 process, removed 0 segments, kept 0 in use\n")
			assertStoppedByTERM(t, hers)
			for name, other := range map[string]*exec.Cmd{"bob": bobs, "none": none} {
				assert.NotContains(t, string(out), "pid "+strconv.Itoa(other.Process.Pid)+" ", "not alice's")
				assert.Equal(t, "mp:"+tag+"/"+name, argv0Of(other.Process.Pid), "still runs")
			}

			// Without a prefix: every one of ours, whatever its prefix.
			cmd = exec.Command("bash", "aux/cleanup.bash", "--processes-only", "--match", "^mp:"+tag+"/")
			cmd.Env = withoutEnv("MP_SHM_PREFIX")
			out, err = cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "stopped 2 processes, removed 0 segments, kept 0 in use\n")
			assertStoppedByTERM(t, bobs)
			assertStoppedByTERM(t, none)
		})
	}
}

// startOrphan starts a process that aux/cleanup.bash takes for an orphaned
// backend (argv[0] mp:<tag>/<name>, a parent that runs another executable),
// with MP_SHM_PREFIX=prefix in its environment, or none if prefix is "".
// It is killed when the test ends, if still there.
func startOrphan(t *testing.T, tag, name, prefix string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec -a mp:"+tag+"/"+name+" sleep 60")
	cmd.Env = withoutEnv("MP_SHM_PREFIX")
	if prefix != "" {
		cmd.Env = append(cmd.Env, "MP_SHM_PREFIX="+prefix)
	}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	waitForArgv0(t, cmd.Process.Pid, "mp:"+tag+"/"+name)
	return cmd
}

// assertStoppedByTERM waits for cmd, which aux/cleanup.bash stopped, and
// checks that SIGTERM ended it.
func assertStoppedByTERM(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stopped")
	assert.Equal(t, syscall.SIGTERM, ee.Sys().(syscall.WaitStatus).Signal())
}
