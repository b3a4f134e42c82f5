package mp

import (
	"context"
	"os"
	"os/exec"
	"strings"

	"github.com/mpgo/mp/mp/shm"
)

// Handlers of the "Test" kind about the programs a backend starts and
// what they inherit: descriptors, signal dispositions.
func init() {
	testKind.
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
		Handle("deafchild", func(b *testBackend, ctx context.Context, m Message) error {
			// Start a program deaf to SIGTERM (it ignores the signal, and
			// so does the sleep it becomes), in our process group.
			c := exec.Command("sh", "-c", "trap '' TERM; exec sleep 300")
			if err := c.Start(); err != nil {
				return err
			}
			go c.Wait()
			return b.Reply(ctx, m, "deafchild", Params{"pid": c.Process.Pid})
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
		})
}

// Handlers of the "Test" kind that map shared memory.
func init() {
	testKind.
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
		})
}

// sigIgn returns the SigIgn line of a /proc/<pid>/status.
func sigIgn(status []byte) string {
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
