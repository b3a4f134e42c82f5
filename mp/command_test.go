package mp_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/mp"
)

// The typed commands of the tests: nested structs, slices and maps travel.
type sumReq struct {
	Label  string
	Values []float64
	Tags   map[string]int
	Inner  struct{ Scale float64 }
}

type sumResp struct {
	Label string
	Sum   float64
	Count int
}

type progress struct {
	Done, Total int
}

var (
	sumCmd      = mp.NewCommand[sumReq, sumResp]("sum")
	failCmd     = mp.NewCommand[string, struct{}]("fail")
	reportCmd   = mp.NewCommand[int, struct{}]("report")
	progressMsg = mp.NewReport[progress]("progress")
)

type typedBackend struct{ *mp.Backend }

func (b *typedBackend) sum(ctx context.Context, req sumReq) (sumResp, error) {
	s := 0.0
	for _, v := range req.Values {
		s += v * req.Inner.Scale
	}
	return sumResp{Label: req.Label, Sum: s, Count: len(req.Values) + req.Tags["extra"]}, nil
}

func (b *typedBackend) fail(ctx context.Context, why string) (struct{}, error) {
	return struct{}{}, errors.New(why)
}

func (b *typedBackend) report(ctx context.Context, n int) (struct{}, error) {
	for i := range n {
		if err := progressMsg.Send(ctx, b.Backend, progress{Done: i + 1, Total: n}); err != nil {
			return struct{}{}, err
		}
	}
	return struct{}{}, nil
}

var typedKind = mp.NewKind("Typed", func(b *mp.Backend) *typedBackend { return &typedBackend{b} })

func init() {
	mp.HandleCommand(typedKind, sumCmd, (*typedBackend).sum)
	mp.HandleCommand(typedKind, failCmd, (*typedBackend).fail)
	mp.HandleCommand(typedKind, reportCmd, (*typedBackend).report)
}

func startTyped(t *testing.T) *mp.Process {
	t.Helper()
	p, err := typedKind.Start(context.Background(), mp.Options{Name: "typed"})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// A typed Call carries a request with a nested struct, a slice and a map to
// the backend, and brings back the typed reply its handler computed from all
// of them.
func TestCommandCallRoundTrip(t *testing.T) {
	p := startTyped(t)
	req := sumReq{Label: "x", Values: []float64{1, 2, 3.5}, Tags: map[string]int{"extra": 10}}
	req.Inner.Scale = 2
	resp, err := sumCmd.Call(context.Background(), p, req)
	require.NoError(t, err)
	assert.Equal(t, sumResp{Label: "x", Sum: 13, Count: 13}, resp)
}

// The error a typed handler returns reaches the caller as a *mp.RemoteError
// that wraps ErrHandler, carries the handler's text and names the command.
func TestCommandHandlerErrorIsRemote(t *testing.T) {
	p := startTyped(t)
	_, err := failCmd.Call(context.Background(), p, "no luck")
	require.Error(t, err)
	assert.ErrorIs(t, err, mp.ErrHandler)
	assert.Contains(t, err.Error(), "no luck")
	var re *mp.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "fail", re.Command)
}

// A handler registered with HandleCommand receives a Params message (a
// frontend that does not use the typed command): the call fails with a
// clear error, and the backend carries on.
func TestCommandRejectsUntypedMessage(t *testing.T) {
	p := startTyped(t)
	_, err := p.Call(context.Background(), "sum", mp.Params{"Label": "x"})
	require.Error(t, err)
	assert.ErrorIs(t, err, mp.ErrHandler)
	assert.Contains(t, err.Error(), "no typed value")
	_, err = sumCmd.Call(context.Background(), p, sumReq{Label: "still here"})
	assert.NoError(t, err)
}

// A reply of the wrong type (two commands disagreeing on one name) is an
// ErrParam error at the caller, not a zero value passed off as a result.
func TestCommandReplyOfWrongType(t *testing.T) {
	p := startTyped(t)
	wrong := mp.NewCommand[sumReq, []string]("sum")
	_, err := wrong.Call(context.Background(), p, sumReq{Label: "x"})
	require.Error(t, err)
	assert.ErrorIs(t, err, mp.ErrParam)
}

// A typed Send's handler sends three Reports, which the frontend decodes, in
// order, from Messages. Decode passes over a message of another
// command (ok false, no error) and fails with ErrParam on a payload it
// cannot decode.
func TestCommandSendAndReports(t *testing.T) {
	p := startTyped(t)
	require.NoError(t, reportCmd.Send(context.Background(), p, 3))
	var got []progress
	for len(got) < 3 {
		m := <-p.Messages()
		v, ok, err := progressMsg.Decode(m)
		require.NoError(t, err)
		require.True(t, ok, "message %q", m.Command)
		got = append(got, v)
	}
	assert.Equal(t, []progress{{1, 3}, {2, 3}, {3, 3}}, got)
	_, ok, err := progressMsg.Decode(mp.Message{Command: "other"})
	assert.False(t, ok)
	assert.NoError(t, err)
	_, ok, err = progressMsg.Decode(mp.Message{Command: "progress", Params: mp.Params{"mp:payload": []byte{0xff}}})
	assert.True(t, ok)
	assert.ErrorIs(t, err, mp.ErrParam)
}

// A request the payload codec cannot encode (a channel) fails a typed Call
// and a typed Send with ErrParam.
func TestCommandUnencodableRequest(t *testing.T) {
	p := startTyped(t)
	bad := mp.NewCommand[chan int, struct{}]("sum")
	_, err := bad.Call(context.Background(), p, make(chan int))
	assert.ErrorIs(t, err, mp.ErrParam)
	assert.ErrorIs(t, bad.Send(context.Background(), p, make(chan int)), mp.ErrParam)
}

// A typed Call on a process that has been closed fails with ErrStopped.
func TestCommandCallOnDeadBackend(t *testing.T) {
	p := startTyped(t)
	require.NoError(t, p.Close())
	_, err := sumCmd.Call(context.Background(), p, sumReq{})
	assert.ErrorIs(t, err, mp.ErrStopped)
}

// Typed commands: the request and the reply are Go types, checked by the
// compiler on both sides.
func ExampleCommand() {
	// Declared at package level in a real program:
	//
	//	var sumCmd = mp.NewCommand[sumReq, sumResp]("sum")
	//	var typedKind = mp.NewKind("Typed", newTypedBackend)
	//	func init() { mp.HandleCommand(typedKind, sumCmd, (*typedBackend).sum) }
	ctx := context.Background()
	p, err := typedKind.Start(ctx, mp.Options{Name: "typed-example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	req := sumReq{Label: "three", Values: []float64{1, 2, 3}}
	req.Inner.Scale = 10
	resp, err := sumCmd.Call(ctx, p, req)
	fmt.Printf("%s: sum %.0f of %d values, err %v\n", resp.Label, resp.Sum, resp.Count, err)
	// Output:
	// three: sum 60 of 3 values, err <nil>
}

// Reports: typed messages a backend sends on its own, recognized and
// decoded by the frontend in its loop over Messages.
func ExampleReport() {
	ctx := context.Background()
	p, err := typedKind.Start(ctx, mp.Options{Name: "typed-report"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	// The backend's handler sends progressMsg three times:
	//	progressMsg.Send(ctx, b.Backend, progress{Done: i + 1, Total: n})
	if err := reportCmd.Send(ctx, p, 3); err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		v, ok, err := progressMsg.Decode(<-p.Messages())
		fmt.Println(ok, v.Done, "of", v.Total, err)
	}
	// Output:
	// true 1 of 3 <nil>
	// true 2 of 3 <nil>
	// true 3 of 3 <nil>
}

// A state that does not embed *mp.Backend (it keeps no Backend at all) still
// takes typed commands: the library replies through the Backend it holds.
type plainState struct{ calls int }

func (s *plainState) count(ctx context.Context, _ struct{}) (int, error) {
	s.calls++
	return s.calls, nil
}

var (
	countCmd  = mp.NewCommand[struct{}, int]("count")
	plainKind = mp.HandleCommand(mp.NewKind("Plain", func(*mp.Backend) *plainState { return &plainState{} }), countCmd, (*plainState).count)
)

// A kind whose state keeps no *mp.Backend (plainState) still serves typed
// commands: two Calls of countCmd reply 1 and 2, so each reply reaches the
// caller and the state lives on between calls.
func TestCommandStateWithoutBackend(t *testing.T) {
	p, err := plainKind.Start(context.Background(), mp.Options{Name: "plain"})
	require.NoError(t, err)
	defer p.Close()
	for want := 1; want <= 2; want++ {
		n, err := countCmd.Call(context.Background(), p, struct{}{})
		require.NoError(t, err)
		assert.Equal(t, want, n)
	}
}
