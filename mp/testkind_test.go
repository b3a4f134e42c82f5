package mp

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// testBackend is the state of the "Test" kind used across the unit tests.
type testBackend struct {
	*Backend
	count  int
	lastID uint64 // the id of the last call "order" handled

	preRunErr  string // the first Send error of PreRun
	preRunSent int    // messages PreRun sent
	lateGo     chan struct{}
}

// PreRun sends Params "prerun_send" messages of 1 KiB, if set, and keeps
// the first error for the call "prerunerr".
func (b *testBackend) PreRun(ctx context.Context) error {
	n, _ := b.Params().Int("prerun_send")
	for i := range n {
		if err := b.Send(ctx, "early", Params{"i": i, "pad": make([]byte, 1<<10)}); err != nil {
			b.preRunErr = err.Error()
			b.preRunSent = i
			return nil
		}
	}
	b.preRunSent = n
	return nil
}

var testKind = NewKind("Test", func(b *Backend) *testBackend { return &testBackend{Backend: b, lateGo: make(chan struct{})} }).
	Handle("prerunerr", func(b *testBackend, ctx context.Context, m Message) error {
		return b.Reply(ctx, m, "prerunerr", Params{"err": b.preRunErr, "sent": b.preRunSent})
	}).
	Handle("replytwice", func(b *testBackend, ctx context.Context, m Message) error {
		if err := b.Reply(ctx, m, "first", nil); err != nil {
			return err
		}
		err := b.Reply(ctx, m, "second", nil)
		return b.Send(ctx, "second", Params{"err": fmt.Sprint(err)})
	}).
	Handle("replylater", func(b *testBackend, ctx context.Context, m Message) error {
		// Reply from a goroutine that outlives the handler: too late.
		go func() {
			<-b.lateGo
			err := b.Reply(context.Background(), m, "late", nil)
			b.Send(context.Background(), "late", Params{"err": fmt.Sprint(err)})
		}()
		return nil
	}).
	Handle("golate", func(b *testBackend, ctx context.Context, m Message) error {
		close(b.lateGo)
		return nil
	}).
	Handle("bigreply", func(b *testBackend, ctx context.Context, m Message) error {
		return b.Reply(ctx, m, "big", Params{"pad": make([]byte, MaxFrameSize+1)})
	}).
	Handle("echo", func(b *testBackend, ctx context.Context, m Message) error {
		if m.IsCall() {
			return b.Reply(ctx, m, "echo", m.Params)
		}
		return b.Send(ctx, "echo", m.Params)
	}).
	Handle("replysend", func(b *testBackend, ctx context.Context, m Message) error {
		// A message right behind the reply, and another before it when
		// asked: frames that the caller reading its reply meets.
		if before, _ := m.Params.Bool("before"); before {
			if err := b.Send(ctx, "before", m.Params); err != nil {
				return err
			}
		}
		if err := b.Reply(ctx, m, "replysend", m.Params); err != nil {
			return err
		}
		return b.Send(ctx, "after", m.Params)
	}).
	Handle("count", func(b *testBackend, ctx context.Context, m Message) error {
		b.count++
		return b.Reply(ctx, m, "count", Params{"n": b.count})
	}).
	Handle("pid", func(b *testBackend, ctx context.Context, m Message) error {
		return b.Reply(ctx, m, "pid", Params{"pid": os.Getpid()})
	}).
	Handle("fail", func(b *testBackend, ctx context.Context, m Message) error {
		return errors.New("asked to fail")
	}).
	Handle("panic", func(b *testBackend, ctx context.Context, m Message) error {
		var nilMap map[string]int
		//lint:ignore SA5000 the point: a real runtime panic in a handler
		nilMap["boom"]++
		return nil
	}).
	Handle("set", func(b *testBackend, ctx context.Context, m Message) error {
		id, err := m.Params.Int("event")
		if err != nil {
			return err
		}
		ev, err := b.Event(id)
		if err != nil {
			return err
		}
		return ev.Set()
	}).
	Handle("burst", func(b *testBackend, ctx context.Context, m Message) error {
		n, _ := m.Params.Int("n")
		size, _ := m.Params.Int("size")
		for i := range n {
			if err := b.Send(ctx, "burst", Params{"i": i, "pad": make([]byte, size)}); err != nil {
				return err
			}
		}
		if stop, _ := m.Params.Bool("stop"); stop {
			b.Stop()
		}
		return nil
	}).
	Handle("params", func(b *testBackend, ctx context.Context, m Message) error {
		return b.Reply(ctx, m, "params", b.Params())
	}).
	Handle("isbackend", func(b *testBackend, ctx context.Context, m Message) error {
		return b.Reply(ctx, m, "isbackend", Params{"is": IsBackend()})
	}).
	Handle("order", func(b *testBackend, ctx context.Context, m Message) error {
		// Whether calls come in the order of their ids, which the
		// backend's cancellation relies on (see Backend.cancel).
		inOrder := m.id > b.lastID
		b.lastID = m.id
		return b.Reply(ctx, m, "order", Params{"inorder": inOrder})
	})
