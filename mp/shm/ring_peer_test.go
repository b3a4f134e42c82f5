package shm

import (
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault (a chapter's test failed with it on a loaded machine): the peer
// is killed and reaped between the pidfd's opening and the read of its
// start time in /proc, which is then gone with it. That is an exit, not a
// PID that now belongs to another process.
func TestPeerReapedWhileLookedAtExited(t *testing.T) {
	cmd, p := sleepingPeer(t)
	old := afterPidfdOpen
	t.Cleanup(func() { afterPidfdOpen = old })
	afterPidfdOpen = func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	_, err := p.fd()
	require.ErrorIs(t, err, ErrPeerDied)
	assert.Contains(t, err.Error(), "exited without closing its side")
}

// sleepingPeer starts a sleep(1) and returns it and a peer that watches
// it, as a side whose peer wrote its PID and start time.
func sleepingPeer(t *testing.T) (*exec.Cmd, *peer) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	start, err := startTime(cmd.Process.Pid)
	require.NoError(t, err)
	var pidw, startw atomic.Uint64
	pidw.Store(uint64(cmd.Process.Pid))
	startw.Store(start)
	p := newPeer(&pidw, &startw)
	t.Cleanup(p.close)
	return cmd, p
}

// Fault (stream_producer_killed failed 3 times in 150 since the ring's
// calls run under the fault guard, which moved the consumer's first look
// at its peer later): the peer is killed and reaped before the consumer
// first watches it, so that pidfd_open finds no such process. That is the
// same exit as one seen a moment earlier, and is told in the same words.
func TestPeerReapedBeforeItIsWatchedExited(t *testing.T) {
	cmd, p := sleepingPeer(t)
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait() // reaped: its PID names no process now
	_, err := p.fd()
	require.ErrorIs(t, err, ErrPeerDied)
	assert.Contains(t, err.Error(), "exited without closing its side")
}
