package mp

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An operation's error is an *Error with the operation and the process, its
// text says "mp:" and the process once, and errors.Is finds the sentinel.
func TestErrorNamesOperationAndProcessOnce(t *testing.T) {
	p := startTest(t, Options{Name: "errs"})
	require.NoError(t, p.Close())
	_, err := p.Call(context.Background(), "echo", nil)
	require.ErrorIs(t, err, ErrStopped)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, `call "echo"`, e.Op)
	assert.Equal(t, "errs", e.Process)
	assert.Equal(t, `mp: errs: call "echo": stopped`, err.Error())
}

// A cause that is itself an error of the same process (here the backend's
// panic, reported as a *RemoteError) adds its text without a second "mp:".
func TestErrorOfADeadBackendSaysMpOnce(t *testing.T) {
	p := startTest(t, Options{Name: "dies"})
	_, err := p.Call(context.Background(), "panic", nil)
	require.ErrorIs(t, err, ErrHandlerPanic)
	<-p.Done()
	err = p.Send(context.Background(), "echo", nil)
	require.ErrorIs(t, err, ErrBackendDied)
	require.ErrorIs(t, err, ErrHandlerPanic, "the cause of the death is kept")
	var re *RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 1, strings.Count(err.Error(), "mp:"), "%q", err)
	assert.Equal(t, 1, strings.Count(err.Error(), "dies"), "%q", err)
	assert.True(t, strings.HasPrefix(err.Error(), `mp: dies: send "echo": backend died: handler "panic" panicked: `), "%q", err)
}

// An error of another process, or of none, keeps its own text.
func TestErrorCauseOfAnotherProcessKeepsItsText(t *testing.T) {
	inner := opError("start", "b", ErrBackendDied)
	outer := opError(`call "x"`, "a", inner)
	assert.Equal(t, `mp: a: call "x": mp: b: start: backend died`, outer.Error())
	assert.True(t, errors.Is(outer, ErrBackendDied))
	none := opError(`call "x"`, "a", paramError("k", ErrParam))
	assert.Equal(t, `mp: a: call "x": parameter "k": bad parameter`, none.Error())
}
