package manager

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mpgo/mp/mp"
	"github.com/stretchr/testify/assert"
)

// TestWorkerDiedSaysTheExitOnce: a task whose worker was killed fails with
// the exit said once ("worker died: died (signal: killed)"), where it said
// it three times ("…: mp: worker-2: run: signal: killed: backend died"),
// and still wraps both sentinels. A failure the backend reported itself (a
// panic) keeps its text: the exit status alone does not say it.
func TestWorkerDiedSaysTheExitOnce(t *testing.T) {
	killed := fmt.Errorf("mp: worker-2: run: signal: killed: %w", mp.ErrBackendDied)
	err := workerDied(mp.EndDied, "signal: killed", killed)
	assert.Equal(t, "worker died: died (signal: killed)", err.Error())
	assert.ErrorIs(t, err, ErrWorkerDied)
	assert.ErrorIs(t, err, mp.ErrBackendDied)

	panicked := &mp.RemoteError{Process: "worker-2", Command: "work", Code: mp.CodePanic, Msg: "injected crash"}
	err = workerDied(mp.EndFatal, "exit status 7 (mp: a handler panicked)", panicked)
	assert.Contains(t, err.Error(), "worker died: ")
	assert.Contains(t, err.Error(), "injected crash")
	var re *mp.RemoteError
	assert.True(t, errors.As(err, &re), "the backend's report stays reachable")
}
