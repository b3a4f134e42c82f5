package mp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: Start spawned the backend before it encoded Options.Params, so
// params the codec refuses (a channel; more than a frame holds) cost a
// process started and then killed. Start now refuses them before any
// process is started, with an error that wraps the codec's: no spawn
// reaches the handshake (testHookBeforeStartParams is never called).
func TestStartRefusesUnencodableParamsBeforeSpawning(t *testing.T) {
	spawned := 0
	testHookBeforeStartParams = func(*Process) { spawned++ }
	t.Cleanup(func() { testHookBeforeStartParams = nil })
	for _, c := range []struct {
		name   string
		params Params
		want   error
		text   string
	}{
		{"channel", Params{"ch": make(chan int)}, ErrParam, `start parameters: parameter "ch": type chan int cannot be sent`},
		{"too large", Params{"big": make([]byte, MaxFrameSize)}, ErrFrameTooLarge, "start parameters: message is"},
	} {
		p, err := testKind.Start(context.Background(), Options{Name: "badparams", Params: c.params})
		if p != nil {
			p.Close()
		}
		require.Error(t, err, c.name)
		assert.ErrorIs(t, err, c.want, c.name)
		assert.Contains(t, err.Error(), c.text, c.name)
		assert.Contains(t, err.Error(), "mp: badparams: start: ", c.name)
	}
	assert.Zero(t, spawned, "processes started for params that cannot be sent")
	// Params that can be sent still start a process.
	p, err := testKind.Start(context.Background(), Options{Name: "goodparams", Params: Params{"n": 1}})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	assert.Equal(t, 1, spawned)
}
