package mp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a frontend with calls in flight is ended by SIGINT or SIGTERM (no
// Go code of it runs), while its backend has started a program deaf to
// SIGTERM. The backend ends (the parent-death signal) and sends SIGTERM to
// its process group, but the SIGKILL that follows a backend's exit is the
// frontend's to send (endGroup), and the frontend is gone: the program
// outlived both, though group.go promises that nothing a handler started
// outlives the backend. An orphaned backend now sends that SIGKILL itself.
func TestFrontendKilledLeavesNoDeafChild(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), envHelper+"=deafchild")
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			line, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err)
			var backend, child int
			_, err = fmt.Sscanf(line, "ready %d %d", &backend, &child)
			require.NoError(t, err, "helper said %q", line)
			require.NoError(t, cmd.Process.Signal(sig))
			require.Error(t, cmd.Wait(), "the frontend ends by the signal")
			require.True(t, proctest.AwaitGone(t, backend, 3*time.Second), "backend still alive 3 s after its frontend's end")
			if !assert.True(t, proctest.AwaitGone(t, child, 3*time.Second), "the deaf child outlived its backend") {
				syscall.Kill(child, syscall.SIGKILL)
			}
			requireNoLeftovers(t)
		})
	}
}

// frontendOfADeafChild is the frontend of TestFrontendKilledLeavesNoDeafChild:
// it starts a backend, has it start a program deaf to SIGTERM, keeps a
// handler busy until its ctx ends with 32 calls queued behind it and 4
// goroutines in Recv, prints "ready <backend> <program>" and waits for the
// test's signal, whose default action ends it.
func frontendOfADeafChild() int {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		if err := unignore(sig); err != nil {
			fmt.Println("error:", err)
			return 1
		}
	}
	p, err := testKind.Start(context.Background(), Options{Name: "deafchild", StopTimeout: helperStopTimeout})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	r, err := p.Call(context.Background(), "deafchild", nil)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	child, err := r.Params.Int("pid")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	go p.Call(context.Background(), "block", nil)
	if m := <-p.Messages(); m.Command != "blocking" {
		fmt.Println("error: got", m.Command)
		return 1
	}
	for range 32 {
		go p.Call(context.Background(), "sleep", Params{"ms": 10})
	}
	for range 4 {
		go p.Recv(context.Background())
	}
	fmt.Printf("ready %d %d\n", p.Pid(), child)
	select {}
}
