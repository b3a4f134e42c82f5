package mp

import (
	"context"
	"os"
	"syscall"
	"time"
)

// Handlers of the "Test" kind that wait: for ever, for their ctx, for a
// while, or for the test.
func init() {
	testKind.
		Handle("hang", func(b *testBackend, ctx context.Context, m Message) error {
			// Tell the frontend we are inside the handler, then never return,
			// ignoring even ctx: only SIGKILL ends this.
			if err := b.Send(ctx, "hanging", nil); err != nil {
				return err
			}
			select {}
		}).
		Handle("block", func(b *testBackend, ctx context.Context, m Message) error {
			// Like hang, but gives up when the backend's context ends (SIGTERM).
			if err := b.Send(ctx, "blocking", nil); err != nil {
				return err
			}
			<-ctx.Done()
			if reply, _ := m.Params.Bool("reply"); reply {
				// Replies with the cancelled ctx: the reply must still go out.
				return b.Reply(ctx, m, "unblocked", nil)
			}
			return nil
		}).
		Handle("sleep", func(b *testBackend, ctx context.Context, m Message) error {
			// Busy for a while, then return on its own (not on ctx).
			ms, _ := m.Params.Int("ms")
			time.Sleep(time.Duration(ms) * time.Millisecond) // the handler's simulated work
			return nil
		}).
		Handle("gate", func(b *testBackend, ctx context.Context, m Message) error {
			// Say so, then wait until the test writes a byte to the pipe it
			// passed as Options.Files[0]: a handler the test releases.
			if err := b.Send(ctx, "gated", nil); err != nil {
				return err
			}
			_, err := b.File(0).Read(make([]byte, 1))
			return err
		})
}

// Handlers of the "Test" kind that end the backend, or break its message
// pipe, in the middle of something: the cases of the stop and exit tests.
func init() {
	testKind.
		Handle("stoplater", func(b *testBackend, ctx context.Context, m Message) error {
			// Stop from another goroutine, once the loop is back reading.
			time.AfterFunc(20*time.Millisecond, b.Stop)
			return nil
		}).
		Handle("quit", func(b *testBackend, ctx context.Context, m Message) error {
			// End this backend after the reply: a worker that recycles itself.
			b.Stop()
			return b.Reply(ctx, m, "quit", Params{"pid": os.Getpid()})
		}).
		Handle("stop", func(b *testBackend, ctx context.Context, m Message) error {
			b.Stop()
			return nil
		}).
		Handle("setexit", func(b *testBackend, ctx context.Context, m Message) error {
			// Set the event, then exit at once, before the loop says anything.
			id, _ := m.Params.Int("event")
			ev, err := b.Event(id)
			if err != nil {
				return err
			}
			if err := ev.Set(); err != nil {
				return err
			}
			os.Exit(0)
			return nil
		}).
		Handle("garbage", func(b *testBackend, ctx context.Context, m Message) error {
			// Corrupt the message pipe with an oversize length prefix.
			if _, err := b.conn.out.f.Write([]byte{0xff, 0xff, 0xff, 0x7f}); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		}).
		Handle("halfframe", func(b *testBackend, ctx context.Context, m Message) error {
			// Die by SIGKILL half way through writing a message, as a backend
			// killed during a large Send does.
			buf, err := appendFrame(nil, &frame{kind: kindMessage, command: "half", params: Params{"pad": make([]byte, 1000)}})
			if err != nil {
				return err
			}
			if _, err := b.conn.out.f.Write(buf[:len(buf)/2]); err != nil {
				return err
			}
			return syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}).
		Handle("halfstall", func(b *testBackend, ctx context.Context, m Message) error {
			// Say so, write half a message and stall, alive, deaf even to
			// SIGTERM: the frontend's reader waits for the rest of the frame.
			if err := b.Send(ctx, "stalling", nil); err != nil {
				return err
			}
			// Send may have gathered the message for a later write (see
			// gather.go): out with it first, or the raw bytes below would
			// go before it and the frontend would never see "stalling".
			b.conn.out.writeGathered()
			buf, err := appendFrame(nil, &frame{kind: kindMessage, command: "half", params: Params{"pad": make([]byte, 1000)}})
			if err != nil {
				return err
			}
			if _, err := b.conn.out.f.Write(buf[:len(buf)/2]); err != nil {
				return err
			}
			select {}
		})
}
