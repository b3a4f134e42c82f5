package mp

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Call runs in the backend's process: the handler's os.Getpid is the
// Process's Pid, not the test's.
func TestCallRunsInAnotherProcess(t *testing.T) {
	p := startTest(t, Options{})
	reply, err := p.Call(context.Background(), "pid", nil)
	require.NoError(t, err)
	pid, err := reply.Params.Int("pid")
	require.NoError(t, err)
	assert.Equal(t, p.Pid(), pid)
	assert.NotEqual(t, os.Getpid(), pid)
}

// Options.Params reach the backend unchanged (Backend.Params, as the
// "params" handler replies it).
func TestStartParamsReachBackend(t *testing.T) {
	p := startTest(t, Options{Params: Params{"size": 100, "label": "x"}})
	reply, err := p.Call(context.Background(), "params", nil)
	require.NoError(t, err)
	assert.Equal(t, Params{"size": 100, "label": "x"}, reply.Params)
}

// 200 Sends from one goroutine, each echoed back as a message, arrive on
// Messages in the order they were sent.
func TestMessagesArriveInOrder(t *testing.T) {
	p := startTest(t, Options{})
	ctx := context.Background()
	const n = 200
	go func() {
		for i := range n {
			if err := p.Send(ctx, "echo", Params{"i": i}); err != nil {
				t.Errorf("send %d: %v", i, err)
				return
			}
		}
	}()
	for i := range n {
		m := <-p.Messages()
		got, err := m.Params.Int("i")
		require.NoError(t, err)
		require.Equal(t, i, got)
	}
}

// A second Close returns the first one's result (nil). After Close, Send
// and Call fail with ErrStopped, Messages is closed and Wait returns nil.
func TestStopIsIdempotentAndSendAfterStopFails(t *testing.T) {
	p := startTest(t, Options{})
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "second Stop returns the first one's result")
	assert.ErrorIs(t, p.Send(context.Background(), "echo", nil), ErrStopped)
	_, err := p.Call(context.Background(), "pid", nil)
	assert.ErrorIs(t, err, ErrStopped)
	_, ok := <-p.Messages()
	assert.False(t, ok, "Messages is closed after the backend exits")
	assert.NoError(t, p.Wait(context.Background()))
}

// Fault: Close while a handler waits for its ctx ("block"). Closing the
// command pipe is not enough, since only SIGTERM cancels that ctx; the
// backend must then stop cleanly, so Close returns nil (SIGKILL would make
// it return an error).
func TestStopLadderUsesSIGTERMForABusyHandler(t *testing.T) {
	// The timeout leaves room for a slow exit (the race detector's).
	p := startTest(t, Options{StopTimeout: time.Second})
	require.NoError(t, p.Send(context.Background(), "block", nil))
	require.Equal(t, "blocking", (<-p.Messages()).Command)
	require.NoError(t, p.Close())
}

// Fault: Close while a handler ignores even its ctx ("hang"). The ladder
// must end with SIGKILL: Close returns ErrBackendDied saying the backend was
// killed, a second Close returns the same error, and the backend is gone.
func TestStopLadderEndsWithSIGKILL(t *testing.T) {
	p := startTest(t, Options{StopTimeout: 100 * time.Millisecond})
	require.NoError(t, p.Send(context.Background(), "hang", nil))
	require.Equal(t, "hanging", (<-p.Messages()).Command)
	err := p.Close()
	require.ErrorIs(t, err, ErrBackendDied)
	assert.Contains(t, err.Error(), "was killed")
	assert.Equal(t, err, p.Close(), "second Stop returns the first one's result")
	assert.False(t, proctest.Alive(p.Pid()))
}

// A backend that calls Backend.Stop in a handler exits cleanly: Wait
// returns nil, Messages closes, and a later Send fails with ErrBackendDied.
func TestBackendStopsItself(t *testing.T) {
	p := startTest(t, Options{})
	require.NoError(t, p.Send(context.Background(), "stop", nil))
	require.NoError(t, p.Wait(context.Background()))
	_, ok := <-p.Messages()
	assert.False(t, ok)
	// The frontend did not ask for this stop: to a caller, the backend died.
	assert.ErrorIs(t, p.Send(context.Background(), "echo", nil), ErrBackendDied)
}

// Start fails, with no Process and no process left running, for an unknown
// kind, an empty name or one with a '/', and a negative StopTimeout,
// MessageBuffer or Events; each error wraps its sentinel, says what is
// wrong and says "mp:" once.
func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		opts       Options
		want       error
		msg        string
	}{
		{"unknown kind", "NoSuchKind", Options{Name: "x"}, ErrUnknownKind, `"NoSuchKind"`},
		{"empty name", "Test", Options{}, ErrBadProcessName, "bad process name: it is empty"},
		{"slash in name", "Test", Options{Name: "a/b"}, ErrBadProcessName, "contains '/'"},
		{"negative stop timeout", "Test", Options{Name: "x", StopTimeout: -time.Second}, os.ErrInvalid, "Options.StopTimeout -1s is negative"},
		{"negative message buffer", "Test", Options{Name: "x", MessageBuffer: -1}, os.ErrInvalid, "Options.MessageBuffer -1 is negative"},
		{"negative events", "Test", Options{Name: "x", Events: -2}, os.ErrInvalid, "Options.Events -2 is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := start(context.Background(), tc.kind, tc.opts)
			require.Error(t, err)
			assert.Nil(t, p)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
			assert.Contains(t, err.Error(), tc.msg)
			assert.Equal(t, 1, strings.Count(err.Error(), "mp:"), "mp: once in %q", err)
		})
	}
	requireNoLeftovers(t)
}

// The error of a Send's handler, which has no caller to return to, is
// logged by the backend (on its Stdout), and the backend goes on serving.
func TestSendHandlerErrorIsReportedAndBackendGoesOn(t *testing.T) {
	out := &syncBuffer{}
	p := startTest(t, Options{Stdout: out})
	// The frontend logs the report on os.Stdout; the backend's own log line
	// goes to out.
	require.NoError(t, p.Send(context.Background(), "fail", nil))
	_, err := p.Call(context.Background(), "pid", nil)
	require.NoError(t, err, "the backend keeps serving")
	require.NoError(t, p.Close())
	assert.Contains(t, out.String(), `[back] - ERROR - handler "fail" failed: asked to fail`)
}

// A Call fails with ErrHandler when its handler fails, ErrUnknownCommand
// for a command nobody handles, ErrParam for a parameter that cannot be
// sent and ErrFrameTooLarge for one too large; after all of them the backend
// still serves.
func TestCallErrors(t *testing.T) {
	p := startTest(t, Options{})
	ctx := context.Background()
	_, err := p.Call(ctx, "fail", nil)
	require.ErrorIs(t, err, ErrHandler)
	assert.Contains(t, err.Error(), `handler "fail": asked to fail`)

	_, err = p.Call(ctx, "nope", nil)
	require.ErrorIs(t, err, ErrUnknownCommand)
	assert.Contains(t, err.Error(), `"nope"`)

	_, err = p.Call(ctx, "echo", Params{"bad": struct{}{}})
	require.ErrorIs(t, err, ErrParam)

	_, err = p.Call(ctx, "echo", Params{"big": make([]byte, MaxFrameSize+1)})
	require.ErrorIs(t, err, ErrFrameTooLarge)

	reply, err := p.Call(ctx, "count", nil)
	require.NoError(t, err, "after all that, the backend still serves")
	n, _ := reply.Params.Int("n")
	assert.Equal(t, 1, n)
}

// A Send of a command the kind does not handle makes the backend log one
// warning naming it and the known commands, and the backend goes on
// serving.
func TestUnknownCommandWarnsAndBackendGoesOn(t *testing.T) {
	out := &syncBuffer{}
	p := startTest(t, Options{Stdout: out})
	require.NoError(t, p.Send(context.Background(), "nope", nil))
	_, err := p.Call(context.Background(), "pid", nil)
	require.NoError(t, err)
	require.NoError(t, p.Close())
	known := strings.Join(slices.Sorted(maps.Keys(testKind.handlers)), ", ")
	require.Contains(t, known, "anonfill, bigreply, block, ")
	assert.Contains(t, out.String(), `WARN - unknown command "nope" ignored (known: `+known+")")
	assert.Equal(t, 1, strings.Count(out.String(), "unknown command"), "one warning")
}

// A Call whose handler does not reply until its ctx ends ("block") returns
// context.DeadlineExceeded when the Call's deadline passes.
func TestCallWithoutReplyReturnsAtDeadline(t *testing.T) {
	p := startTest(t, Options{StopTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Call(ctx, "block", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestConcurrentCalls: 1,000 calls from 50 goroutines, each reply must reach
// its own caller. Run under -race by .ci/run.
func TestConcurrentCalls(t *testing.T) {
	p := startTest(t, Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			for i := range 20 {
				want := fmt.Sprintf("%d/%d", g, i)
				reply, err := p.Call(ctx, "echo", Params{"v": want})
				if !assert.NoError(t, err) {
					return
				}
				got, _ := reply.Params.String("v")
				assert.Equal(t, want, got)
			}
		})
	}
	wg.Wait()
	reply, err := p.Call(ctx, "count", nil)
	require.NoError(t, err)
	n, _ := reply.Params.Int("n")
	assert.Equal(t, 1, n)
}

// The pre-run hook runs before Start returns (its log line is in the
// backend's output by then), and the post-run hook before Close returns.
func TestHooksRunAroundTheLoop(t *testing.T) {
	// A file, not a buffer: the backend writes to it directly, as it does
	// to a terminal, with no copying goroutine in between.
	out, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer out.Close()
	read := func() string { b, _ := os.ReadFile(out.Name()); return string(b) }
	p, err := hooksKind.Start(context.Background(), Options{Name: "hooks", Stdout: out})
	require.NoError(t, err)
	// Start returned after the pre-run hook: its line is already out.
	assert.Contains(t, read(), "[back] - INFO - pre-run done")
	require.NoError(t, p.Close())
	assert.Contains(t, read(), "[back] - INFO - post-run done")
	requireNoLeftovers(t)
}

// Fault: the pre-run hook fails, by returning an error or by panicking.
// Start must return that error and no Process, the post-run hook must still
// run, and no process may be left.
func TestPreRunFailureIsStartError(t *testing.T) {
	for _, mode := range []string{"fail", "panic"} {
		t.Run(mode, func(t *testing.T) {
			out := &syncBuffer{}
			p, err := hooksKind.Start(context.Background(), Options{Name: "hooks", Params: Params{"prerun": mode}, Stdout: out, Stderr: out})
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), map[string]string{"fail": "pre-run: no can do", "panic": "pre-run: pre-run exploded"}[mode])
			assert.Contains(t, out.String(), "post-run done", "post-run releases what pre-run got, even then")
			requireNoLeftovers(t)
		})
	}
}

// TestManyBackendsStartAndStopConcurrently is the shape of Part II: many
// backends started and stopped from many goroutines at once.
func TestManyBackendsStartAndStopConcurrently(t *testing.T) {
	const n = 50
	ctx := context.Background()
	procs := make([]*Process, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := testKind.Start(ctx, Options{Name: fmt.Sprintf("many-%d", i)})
			if !assert.NoError(t, err) {
				return
			}
			procs[i] = p
			reply, err := p.Call(ctx, "pid", nil)
			if assert.NoError(t, err) {
				pid, _ := reply.Params.Int("pid")
				assert.Equal(t, p.Pid(), pid)
			}
		})
	}
	wg.Wait()
	for _, p := range procs {
		if p != nil {
			wg.Go(func() { assert.NoError(t, p.Close()) })
		}
	}
	wg.Wait()
	requireNoLeftovers(t)
}
