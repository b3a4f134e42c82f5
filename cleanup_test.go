package chapters_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mpgo/mp/mp/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCleanupStopsOnlyOrphans runs aux/cleanup.bash's process half next to
// a live chapter: the backend of a running frontend is kept, and a process
// of ours whose frontend is gone is stopped.
func TestCleanupStopsOnlyOrphans(t *testing.T) {
	tag := "cleanup-" + randomHex(4)
	// An orphan: argv[0] says it is ours, but its parent (this test) runs
	// another executable, as happens when a frontend died and the backend
	// was adopted.
	orphan := exec.Command("bash", "-c", "exec -a mp:"+tag+"/orphan sleep 60")
	require.NoError(t, orphan.Start())
	defer orphan.Process.Kill()

	// Not ours, though the pattern given below matches it: argv[0] must
	// start with mp: whatever --match says.
	decoy := exec.Command("bash", "-c", "exec -a decoy-"+tag+" sleep 60")
	require.NoError(t, decoy.Start())
	defer func() { decoy.Process.Kill(); decoy.Wait() }()

	// A live frontend and its backend: names runs until it is told to stop
	// (no MP_FAST), so it is alive whatever time the clean-up takes. (ping,
	// which this test used, ends after its two 1 s pauses: under load the
	// clean-up's scan outlasted them, and found no backend to keep.)
	names := exec.Command(filepath.Join(binDir, "names"), "-workers", "1")
	names.Env = append(withoutEnv("MP_FAST"), "MP_TEST_TAG="+tag)
	var namesOut bytes.Buffer
	names.Stdout, names.Stderr = &namesOut, &namesOut
	require.NoError(t, names.Start())
	defer names.Process.Kill()
	backend := waitForChild(t, names.Process.Pid, "mp:names/worker-1")
	waitForArgv0(t, orphan.Process.Pid, "mp:"+tag+"/orphan")
	waitForArgv0(t, decoy.Process.Pid, "decoy-"+tag)

	cleanup := exec.Command("bash", "aux/cleanup.bash", "--processes-only", "--match", "^mp:("+tag+"/|names/worker-1$)|decoy-"+tag)
	out, err := cleanup.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "keeping pid "+strconv.Itoa(backend)+" (mp:names/worker-1): its frontend, pid "+strconv.Itoa(names.Process.Pid)+", is alive")
	assert.Contains(t, string(out), "stopping pid "+strconv.Itoa(orphan.Process.Pid)+" (mp:"+tag+"/orphan 60), parent pid "+strconv.Itoa(os.Getpid())+"\n")
	assert.NotContains(t, string(out), "keeping pid "+strconv.Itoa(orphan.Process.Pid))

	err = orphan.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the orphan was stopped")
	assert.Equal(t, syscall.SIGTERM, ee.Sys().(syscall.WaitStatus).Signal())

	assert.NotContains(t, string(out), strconv.Itoa(decoy.Process.Pid), "the decoy is not ours")
	assert.Equal(t, "decoy-"+tag, argv0Of(decoy.Process.Pid), "the decoy still runs")

	// The frontend kept its backend, and stops it itself.
	require.NoError(t, names.Process.Signal(syscall.SIGINT))
	err = names.Wait()
	require.ErrorAs(t, err, &ee, "%s", namesOut.String())
	assert.Equal(t, 130, ee.ExitCode(), "names ends on SIGINT with everything cleaned up: %s", namesOut.String())
	assert.Contains(t, namesOut.String(), "stopped: interrupt signal received; everything is cleaned up")
}

// TestCleanupSegmentsByLockAndMaps checks the segment ownership rule: a
// segment is removed only when nobody holds a lock on it and nobody maps it,
// whatever PID its name holds.
//
// Fault injected: the PID in a segment's name lies in both directions. The
// stale segment is named after PID 1, which is always alive (a tool that
// trusts the name keeps it forever); the two segments in use are named
// after a PID that cannot exist (a tool that trusts the name removes them
// under their users).
func TestCleanupSegmentsByLockAndMaps(t *testing.T) {
	prefix := testPrefix(t)
	stale := segment(t, prefix+"1-stale")
	locked := segment(t, prefix+noPID+"-locked")
	lockShared(t, locked)
	mapped := segment(t, prefix+noPID+"-mapped")
	mapWithoutLock(t, mapped)
	other := "/dev/shm/other-" + prefix + "1-x"
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	t.Cleanup(func() { os.Remove(other) })
	sleep, secs := startSleep(t)

	// The pattern names the sleep too: only argv[0] decides what is ours.
	run := runCleanup(t, "--prefix", prefix, "--match", `^mp:`+prefix+`/|^sleep `+regexp.QuoteMeta(secs)+`$`)
	require.Equal(t, 0, run.code, "stdout:\n%s\nstderr:\n%s", run.stdout, run.stderr)

	assert.NoFileExists(t, stale, "stale, though pid 1 is alive")
	assert.Contains(t, run.stdout, "removed "+prefix+"1-stale: stale (no lock, nobody maps it)\n")
	assert.FileExists(t, locked, "its creator holds the lock")
	assert.Contains(t, run.stdout, "keeping "+prefix+noPID+"-locked: in use (its creator or a backend holds a lock on it)\n")
	assert.FileExists(t, mapped, "a live process maps it")
	assert.Contains(t, run.stdout, fmt.Sprintf("keeping %s%s-mapped: in use (pid %d maps it)\n", prefix, noPID, os.Getpid()))
	assert.FileExists(t, other, "not our prefix")
	assert.NotContains(t, run.stdout, "other-")
	assert.Equal(t, "sleep", argv0Of(sleep.Process.Pid), "the sleep is not ours and still runs")
	// As a whole number: a short PID may be part of noPID, which the
	// output names.
	assert.NotRegexp(t, `\b`+strconv.Itoa(sleep.Process.Pid)+`\b`, run.stdout)
	assert.Contains(t, run.stdout, "stopped 0 processes, removed 1 segment, kept 2 in use\n")
	assert.Empty(t, run.stderr)
}

// TestCleanupDryRunChangesNothing: --dry-run reports a stale segment and an
// orphan of ours, and leaves both as they are.
func TestCleanupDryRunChangesNothing(t *testing.T) {
	prefix := testPrefix(t)
	stale := segment(t, prefix+"1-stale")
	orphan := exec.Command("bash", "-c", "exec -a mp:"+prefix+"/orphan sleep 60")
	orphan.Env = append(withoutEnv("MP_SHM_PREFIX"), "MP_SHM_PREFIX="+prefix) // a backend of that prefix
	require.NoError(t, orphan.Start())
	t.Cleanup(func() { orphan.Process.Kill(); orphan.Wait() })
	waitForArgv0(t, orphan.Process.Pid, "mp:"+prefix+"/orphan")

	run := runCleanup(t, "--dry-run", "--prefix", prefix, "--match", "^mp:"+prefix+"/")
	require.Equal(t, 0, run.code, "stdout:\n%s\nstderr:\n%s", run.stdout, run.stderr)
	assert.Contains(t, run.stdout, fmt.Sprintf("would stop pid %d (mp:%s/orphan 60)", orphan.Process.Pid, prefix))
	assert.Contains(t, run.stdout, "would remove "+prefix+"1-stale: stale (no lock, nobody maps it)\n")
	assert.Contains(t, run.stdout, "dry run: would stop 1 process, would remove 1 segment, kept 0 in use\n")
	assert.NotRegexp(t, `(?m)^(stopping|removed|removing) `, run.stdout)
	assert.FileExists(t, stale)
	assert.Equal(t, "mp:"+prefix+"/orphan", argv0Of(orphan.Process.Pid), "the orphan still runs")
}

// TestCleanupKillsWhatIgnoresSIGTERM: an orphan of ours that ignores
// SIGTERM gets SIGKILL once the grace period is over.
//
// Fault injected: the orphan ignores SIGTERM (an ignored signal stays
// ignored across exec).
func TestCleanupKillsWhatIgnoresSIGTERM(t *testing.T) {
	prefix := testPrefix(t)
	orphan := exec.Command("bash", "-c", "trap '' TERM; exec -a mp:"+prefix+"/stubborn sleep 60")
	require.NoError(t, orphan.Start())
	t.Cleanup(func() { orphan.Process.Kill() })
	waitForArgv0(t, orphan.Process.Pid, "mp:"+prefix+"/stubborn")

	run := runCleanup(t, "--processes-only", "--grace", "0.2", "--match", "^mp:"+prefix+"/")
	require.Equal(t, 0, run.code, "stdout:\n%s\nstderr:\n%s", run.stdout, run.stderr)
	assert.Contains(t, run.stdout, fmt.Sprintf("pid %d still runs after 0.2s: SIGKILL\n", orphan.Process.Pid))
	assert.Contains(t, run.stdout, "stopped 1 process, removed 0 segments, kept 0 in use\n")
	err := orphan.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, syscall.SIGKILL, ee.Sys().(syscall.WaitStatus).Signal())
}

// TestCleanupFailsOnWhatItCannotRemove: a stale segment that cannot be
// unlinked is reported, counted, and makes the exit status 1.
//
// Fault injected: the segment file is immutable (chattr +i), so unlink
// fails with EPERM even for root. The test is skipped where chattr cannot
// set the flag (not root, or a file system without it).
func TestCleanupFailsOnWhatItCannotRemove(t *testing.T) {
	prefix := testPrefix(t)
	stuck := segment(t, prefix+"1-stuck")
	if out, err := exec.Command("chattr", "+i", stuck).CombinedOutput(); err != nil {
		t.Skipf("cannot make a file immutable here, so no unlink can fail: chattr +i: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", stuck).Run() })

	run := runCleanup(t, "--segments-only", "--prefix", prefix)
	assert.Equal(t, 1, run.code, "stdout:\n%s\nstderr:\n%s", run.stdout, run.stderr)
	assert.Contains(t, run.stderr, "cannot remove "+prefix+"1-stuck: ")
	assert.Contains(t, run.stderr, "Operation not permitted")
	assert.Contains(t, run.stdout, "stopped 0 processes, removed 0 segments, kept 0 in use; 1 of ours could not be stopped or removed (see above)\n")
	assert.FileExists(t, stuck)
}

// TestCleanupUsage: --help prints the help on stdout and succeeds; an
// unknown option is a usage error.
func TestCleanupUsage(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		run := runCleanup(t, arg)
		assert.Equal(t, 0, run.code, arg)
		assert.True(t, strings.HasPrefix(run.stdout, "Usage: aux/cleanup.bash"), "%s:\n%s", arg, run.stdout)
		for _, opt := range []string{"--dry-run", "--segments-only", "--processes-only", "--all", "--match", "--prefix", "--grace", "--help", "never touches"} {
			assert.Contains(t, run.stdout, opt, arg)
		}
		assert.Empty(t, run.stderr, arg)
	}
	for _, args := range [][]string{{"--bogus"}, {"--prefix", "tmp-"}, {"--match", "sleep"}, {"--grace"}} {
		run := runCleanup(t, args...)
		assert.Equal(t, 2, run.code, "%q", args)
		assert.Contains(t, run.stderr, "cleanup.bash: ", "%q", args)
		assert.Empty(t, run.stdout, "%q", args)
	}
}

// TestCleanupRechecksIdentityBeforeSIGKILL: a process that stops being ours
// between SIGTERM and the SIGKILL that would follow is left alone.
//
// Fault injected: the same PID changes identity. The process ignores
// SIGTERM's default action; its trap execs into a program whose argv[0] is
// not ours, in the same PID (as a reused PID would be). A tool that kills
// by PID alone would SIGKILL it after the grace period.
func TestCleanupRechecksIdentityBeforeSIGKILL(t *testing.T) {
	tag := "cu" + randomHex(4)
	shifty := exec.Command("bash", "-c", `exec -a mp:`+tag+`/shifty bash -c 'trap "exec -a notours-`+tag+` sleep 60" TERM; read -r _'`)
	stdin, err := shifty.StdinPipe() // never written: read waits until the trap
	require.NoError(t, err)
	defer stdin.Close()
	require.NoError(t, shifty.Start())
	t.Cleanup(func() { shifty.Process.Kill(); shifty.Wait() })
	waitForArgv0(t, shifty.Process.Pid, "mp:"+tag+"/shifty")

	run := runCleanup(t, "--processes-only", "--grace", "0.3", "--match", "^mp:"+tag+"/")
	require.Equal(t, 0, run.code, "stdout:\n%s\nstderr:\n%s", run.stdout, run.stderr)
	assert.Contains(t, run.stdout, fmt.Sprintf("stopping pid %d (mp:%s/shifty", shifty.Process.Pid, tag))
	assert.NotContains(t, run.stdout, "SIGKILL")
	// Alive, and someone else now: a zombie or a killed process has no
	// argv[0].
	waitForArgv0(t, shifty.Process.Pid, "notours-"+tag)
}

// TestCleanupLeavesOtherUsers: on a machine shared by many people, the
// clean-up of one (even as root) touches only that user's own: another
// user's orphaned process and stale segment are left, and said to be, until
// --all-users asks for them.
func TestCleanupLeavesOtherUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to make a process and a file of another user")
	}
	const nobody = 65534
	prefix := testPrefix(t)
	theirs := segment(t, prefix+"1-theirs")
	require.NoError(t, os.Chown(theirs, nobody, nobody))
	mine := segment(t, prefix+"1-mine")

	tag := "users-" + randomHex(4)
	other := exec.Command("bash", "-c", "exec -a mp:"+tag+"/theirs sleep 60")
	other.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	other.Env = append(withoutEnv("MP_SHM_PREFIX"), "MP_SHM_PREFIX="+prefix) // of the prefix: only its user differs
	require.NoError(t, other.Start())
	defer func() { other.Process.Kill(); other.Wait() }()
	waitForArgv0(t, other.Process.Pid, "mp:"+tag+"/theirs")

	run := runCleanup(t, "--prefix", prefix, "--match", "^mp:"+tag+"/")
	require.Equal(t, 0, run.code, "%s%s", run.stdout, run.stderr)
	assert.Contains(t, run.stdout, "skipping "+prefix+"1-theirs: it belongs to nobody, not to you\n")
	assert.Contains(t, run.stdout, "removed "+prefix+"1-mine: stale")
	assert.NotContains(t, run.stdout, strconv.Itoa(other.Process.Pid), "another user's process is none of ours")
	assert.FileExists(t, theirs)
	assert.NoFileExists(t, mine)
	assert.Equal(t, "mp:"+tag+"/theirs", argv0Of(other.Process.Pid), "the other user's process still runs")

	run = runCleanup(t, "--all-users", "--prefix", prefix, "--match", "^mp:"+tag+"/")
	require.Equal(t, 0, run.code, "%s%s", run.stdout, run.stderr)
	assert.Contains(t, run.stdout, "removed "+prefix+"1-theirs: stale")
	assert.Contains(t, run.stdout, "stopping pid "+strconv.Itoa(other.Process.Pid))
	assert.NoFileExists(t, theirs)
}

// TestCleanupTakesThePrefixOfMPShmPrefix: a workshop hands each participant
// a prefix in MP_SHM_PREFIX; with it set, the clean-up (make clean) touches
// only that participant's segments, even when everybody shares an account.
func TestCleanupTakesThePrefixOfMPShmPrefix(t *testing.T) {
	alice, bob := testPrefix(t), testPrefix(t)
	segment(t, alice+"1-results")
	bobs := segment(t, bob+"1-results")

	cmd := exec.Command("bash", "aux/cleanup.bash", "--segments-only")
	cmd.Env = append(withoutEnv("MP_SHM_PREFIX"), "MP_SHM_PREFIX="+alice)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "removed "+alice+"1-results: stale")
	assert.NotContains(t, string(out), bob)
	assert.FileExists(t, bobs, "another participant's crash leftovers stay for their exercise")

	cmd = exec.Command("bash", "aux/cleanup.bash", "--segments-only")
	cmd.Env = append(withoutEnv("MP_SHM_PREFIX"), "MP_SHM_PREFIX=/etc/")
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
	assert.Contains(t, string(out), `MP_SHM_PREFIX must be "mp-" followed by words`)
}

// TestCleanupTakesThePrefixesTheLibraryTakes: cleanup.bash accepts a
// segment prefix, in MP_SHM_PREFIX or --prefix, exactly when shm.Prefix
// accepts it in MP_SHM_PREFIX. A prefix the library refuses names no
// segment of ours, and a short one reaches into others' (mp-al would take
// mp-alice-'s stale segments); such a prefix is a usage error.
func TestCleanupTakesThePrefixesTheLibraryTakes(t *testing.T) {
	tag := "cu" + randomHex(4)         // no segment of anybody's starts with it
	pad := 64 - len("mp-"+tag+"-") - 1 // a word of pad bytes and its '-' make 64 bytes
	for _, p := range []string{
		"mp-" + tag + "-", "mp-" + tag + "-run_7-", "mp-" + tag + "-7a-", "mp-" + tag + "-" + strings.Repeat("x", pad) + "-",
		"mp-" + tag, "mp-x", "mp-d", "mp-" + tag + "--", "mp-" + tag + "-2024-", "mp-" + tag + "-a.b-",
		"mp-" + tag + "-a b-", "mp-" + tag + "/x-", "mp-" + tag + "-é-", "other-" + tag + "-", "mp",
		"mp-" + tag + "-" + strings.Repeat("x", pad+1) + "-", // 65 bytes
	} {
		t.Run(p, func(t *testing.T) {
			t.Setenv(shm.PrefixEnv, p)
			_, err := shm.Prefix()
			want := 0
			if err != nil {
				want = 2
			}
			byEnv := runCleanup(t, "--dry-run", "--segments-only")
			t.Setenv(shm.PrefixEnv, "")
			byFlag := runCleanup(t, "--dry-run", "--segments-only", "--prefix", p)
			for how, run := range map[string]cleanupRun{"MP_SHM_PREFIX": byEnv, "--prefix": byFlag} {
				assert.Equal(t, want, run.code, "%s %q (shm.Prefix: %v): %s", how, p, err, run.stderr)
				if want == 2 {
					assert.Contains(t, run.stderr, "cleanup.bash: "+how+` must be "mp-" followed by words`, how)
					assert.Contains(t, run.stderr, "got '"+p+"'", how)
				}
			}
		})
	}
}
