package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain runs before any test. The test binary is what a backend started
// from a test re-executes, so it too must call mp.Init first: in the child,
// that runs the backend instead of the tests.
func TestMain(m *testing.M) {
	mp.Init()
	os.Exit(m.Run())
}

// TestGreet starts a real backend and calls it: the handler runs in another
// process and keeps its state between calls.
func TestGreet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := greeters.Start(ctx, mp.Options{Name: "greeter-test"})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	assert.NotEqual(t, os.Getpid(), p.Pid())

	for i, name := range []string{"Ada", "Grace"} {
		reply, err := p.Call(ctx, "greet", mp.Params{"name": name})
		require.NoError(t, err)
		text, err := reply.Params.String("text")
		require.NoError(t, err)
		assert.Regexp(t, `^hello, `+name+` \(greeting `+string(rune('1'+i))+`, from pid [0-9]+\)$`, text)
	}
	assert.NoError(t, p.Close())
}
