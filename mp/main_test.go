package mp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/mpgo/mp/mp/shm"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The test binary is also the backend: TestMain gives Init (and the raw
// floor benchmarks' echo loops) the first word, exactly as a chapter's main
// does.
func TestMain(m *testing.M) {
	// MP_TEST_SKIP_INIT plays a program whose main forgot mp.Init.
	if os.Getenv("MP_TEST_SKIP_INIT") == "" {
		Init()
	}
	if mode := os.Getenv(envRaw); mode != "" {
		os.Exit(rawEcho(mode))
	}
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(runHelper(mode))
	}
	// Every process this test binary starts carries this tag in its
	// environment, so leftovers can be found without touching anybody else's.
	if os.Getenv(envTestTag) == "" {
		os.Setenv(envTestTag, "mp-unit-"+strconv.Itoa(os.Getpid()))
	}
	// Under -race every process sleeps a second at exit by default
	// (atexit_sleep_ms), which would slow each stop; the backends need not.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	// No goroutine may outlive the tests, but the package's own for life:
	// the spawner, locked to its thread for good (spawn.go).
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/mpgo/mp/mp.spawn.func1.1"))
}

const (
	envTestTag = "MP_TEST_TAG"
	envRaw     = "MP_TEST_RAW"
	envHelper  = "MP_TEST_HELPER"
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
	Handle("garbage", func(b *testBackend, ctx context.Context, m Message) error {
		// Corrupt the message pipe with an oversize length prefix.
		if _, err := b.conn.out.f.Write([]byte{0xff, 0xff, 0xff, 0x7f}); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}).
	Handle("sleep", func(b *testBackend, ctx context.Context, m Message) error {
		// Busy for a while, then return on its own (not on ctx).
		ms, _ := m.Params.Int("ms")
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return nil
	}).
	Handle("stoplater", func(b *testBackend, ctx context.Context, m Message) error {
		// Stop from another goroutine, once the loop is back reading.
		time.AfterFunc(20*time.Millisecond, b.Stop)
		return nil
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
	Handle("quit", func(b *testBackend, ctx context.Context, m Message) error {
		// End this backend after the reply: a worker that recycles itself.
		b.Stop()
		return b.Reply(ctx, m, "quit", Params{"pid": os.Getpid()})
	}).
	Handle("tool", func(b *testBackend, ctx context.Context, m Message) error {
		// Start a program of our own and wait for it, deaf to ctx, as a
		// handler that runs a tool without exec.CommandContext does.
		c := exec.Command("sleep", "300")
		if err := c.Start(); err != nil {
			return err
		}
		if err := b.Send(ctx, "tool", Params{"pid": c.Process.Pid}); err != nil {
			return err
		}
		return c.Wait()
	}).
	Handle("grandchild", func(b *testBackend, ctx context.Context, m Message) error {
		// Start a process that outlives us holding our stdout.
		c := exec.Command("sleep", "30")
		c.Stdout = os.Stdout
		if err := c.Start(); err != nil {
			return err
		}
		return b.Reply(ctx, m, "grandchild", Params{"pid": c.Process.Pid})
	}).
	Handle("childfds", func(b *testBackend, ctx context.Context, m Message) error {
		// What a process started by the backend inherits: it must not get
		// our pipes or events (close-on-exec).
		out, err := exec.Command("sh", "-c", "ls /proc/$$/fd; :").Output()
		if err != nil {
			return err
		}
		return b.Reply(ctx, m, "childfds", Params{"fds": strings.Fields(string(out))})
	}).
	Handle("shmfill", func(b *testBackend, ctx context.Context, m Message) error {
		// Map the array the message describes, fill it, unmap it.
		spec := shm.Spec{}
		spec.Name, _ = m.Params.String("name")
		spec.DType, _ = m.Params.String("dtype")
		spec.Shape, _ = m.Params.Ints("shape")
		v, _ := m.Params.Float("value")
		a, err := shm.OpenAny(spec)
		if err != nil {
			return err
		}
		defer a.Close()
		return a.(*shm.Array[float64]).Fill(v)
	}).
	Handle("shmhold", func(b *testBackend, ctx context.Context, m Message) error {
		// Map the array and keep it mapped, then hang.
		name, _ := m.Params.String("name")
		a, err := shm.Open[float64](name, 8)
		if err != nil {
			return err
		}
		if err := a.Fill(1); err != nil {
			return err
		}
		if err := b.Send(ctx, "holding", nil); err != nil {
			return err
		}
		select {}
	}).
	Handle("anonfill", func(b *testBackend, ctx context.Context, m Message) error {
		a, err := shm.OpenFile[float64](b.File(0), 4, 4)
		if err != nil {
			return err
		}
		defer a.Close()
		return a.Fill(5)
	}).
	Handle("params", func(b *testBackend, ctx context.Context, m Message) error {
		return b.Reply(ctx, m, "params", b.Params())
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
	Handle("gate", func(b *testBackend, ctx context.Context, m Message) error {
		// Say so, then wait until the test writes a byte to the pipe it
		// passed as Options.Files[0]: a handler the test releases.
		if err := b.Send(ctx, "gated", nil); err != nil {
			return err
		}
		_, err := b.File(0).Read(make([]byte, 1))
		return err
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
		buf, err := appendFrame(nil, &frame{kind: kindMessage, command: "half", params: Params{"pad": make([]byte, 1000)}})
		if err != nil {
			return err
		}
		if _, err := b.conn.out.f.Write(buf[:len(buf)/2]); err != nil {
			return err
		}
		select {}
	}).
	Handle("isbackend", func(b *testBackend, ctx context.Context, m Message) error {
		return b.Reply(ctx, m, "isbackend", Params{"is": IsBackend()})
	}).
	Handle("sigign", func(b *testBackend, ctx context.Context, m Message) error {
		// The ignored-signal masks of this backend and of a program it
		// starts, as /proc/<pid>/status shows them.
		own, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return err
		}
		child, err := exec.Command("cat", "/proc/self/status").Output()
		if err != nil {
			return err
		}
		return b.Reply(ctx, m, "sigign", Params{"own": sigIgn(own), "child": sigIgn(child)})
	}).
	Handle("order", func(b *testBackend, ctx context.Context, m Message) error {
		// Whether calls come in the order of their ids, which the
		// backend's cancellation relies on (see Backend.cancel).
		inOrder := m.id > b.lastID
		b.lastID = m.id
		return b.Reply(ctx, m, "order", Params{"inorder": inOrder})
	})

// sigIgn returns the SigIgn line of a /proc/<pid>/status.
func sigIgn(status []byte) string {
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// startTest starts a "Test" backend that is stopped when the test ends, and
// checks then that nothing of ours is left running.
func startTest(t *testing.T, opts Options) *Process {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "t-" + strings.ReplaceAll(filepath.Base(t.Name()), "/", "-")
		if len(opts.Name) > 64 {
			opts.Name = opts.Name[:64]
		}
	}
	p, err := testKind.Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Close()
		requireNoLeftovers(t)
	})
	return p
}

// requireNoLeftovers fails the test if a process started by this test
// binary is still alive (zombies excepted: they are dead, only not yet
// reaped by their new parent). A process killed a moment ago may take a
// little while to go, so it retries for up to one second.
func requireNoLeftovers(t *testing.T) {
	t.Helper()
	var left []int
	deadline := time.Now().Add(time.Second)
	for {
		left = proctest.Tagged(os.Getenv(envTestTag))
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.Empty(t, left, "processes left behind")
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of os/exec's
// copying goroutine and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hooksBackend has pre-run and post-run hooks that fail on request.
type hooksBackend struct{ *Backend }

func (h *hooksBackend) PreRun(ctx context.Context) error {
	switch h.Params()["prerun"] {
	case "fail":
		return errors.New("no can do")
	case "panic":
		panic("pre-run exploded")
	case "chatty-fail":
		for i := range 3 { // within the window of MessageBuffer 1
			if err := h.Send(ctx, "chat", Params{"i": i}); err != nil {
				return err
			}
		}
		return errors.New("said too much")
	}
	h.Log().Info("pre-run done")
	return nil
}

func (h *hooksBackend) PostRun() error {
	h.Log().Info("post-run done")
	return nil
}

var hooksKind = NewKind("Hooks", func(b *Backend) *hooksBackend { return &hooksBackend{b} })

// markerBackend's post-run hook creates the file named by its "marker"
// parameter: proof, visible from outside, that the hook ran.
type markerBackend struct{ *Backend }

func (m *markerBackend) PostRun() error {
	path, err := m.Params().String("marker")
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte("post-run ran\n"), 0o600)
}

var markerKind = NewKind("Marker", func(b *Backend) *markerBackend { return &markerBackend{b} }).
	Handle("touch", func(*markerBackend, context.Context, Message) error { return nil })
