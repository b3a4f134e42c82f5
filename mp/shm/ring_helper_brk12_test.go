package shm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/mpgo/mp/internal/initcheck"
	"github.com/stretchr/testify/require"
)

// The helper processes of the *_brk12_test.go tests: the test binary run
// again with SHM_BRK12_HELPER set to a mode. It opens the ring from files
// 3, 4 and 5, takes the side its mode says, prints "ready" (or "error: …")
// and then obeys one command per line of stdin, printing one line for
// each:
//
//	next     (a consumer) reads one frame, releases it, prints it
//	close    closes its side, prints "closed"
//	die      SIGKILLs itself, nothing printed
//	produce  (a producer) commits the frame of the rest of the line
//	tear     (a producer) commits the frame of the rest of the line but
//	         for its head: the sequence number is stored, then the process
//	         SIGKILLs itself, as if killed between the two stores of Commit
//
// Its modes: "consumer" and "producer"; and "noinit", a process started as
// a backend whose main forgot mp.Init: it creates a named ring (see
// runBrk12NoInit).
const envBrk12Helper = "SHM_BRK12_HELPER"

func init() {
	if mode := os.Getenv(envBrk12Helper); mode != "" {
		os.Exit(runBrk12Helper(mode))
	}
}

func runBrk12Helper(mode string) int {
	if mode == "noinit" {
		return runBrk12NoInit()
	}
	r, err := OpenRing(os.NewFile(3, "ring"), os.NewFile(4, "data"), os.NewFile(5, "space"))
	if err != nil {
		// What the descriptors are, for a failure's report.
		var what []string
		for fd := 3; fd <= 5; fd++ {
			l, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
			what = append(what, l)
		}
		fmt.Println("error:", err, what)
		return 1
	}
	defer r.Close()
	var p *Producer
	var c *Consumer
	if mode == "producer" {
		p, err = r.Producer()
	} else {
		c, err = r.Consumer()
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ready")
	for in := bufio.NewScanner(os.Stdin); in.Scan(); {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		fmt.Println(brk12Command(p, c, cmd, arg))
	}
	return 0
}

// brk12Command runs one command of the helper and returns its line.
func brk12Command(p *Producer, c *Consumer, cmd, arg string) string {
	switch cmd {
	case "next":
		f, err := c.Next(context.Background())
		if err != nil {
			return "error: " + err.Error()
		}
		s := string(f)
		if err := c.Release(); err != nil {
			return "error: " + err.Error()
		}
		return s
	case "close":
		var err error
		if p != nil {
			err = p.Close()
		} else {
			err = c.Close()
		}
		if err != nil {
			return "error: " + err.Error()
		}
		return "closed"
	case "die":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	case "produce", "tear":
		buf, err := p.Reserve(context.Background())
		if err != nil {
			return "error: " + err.Error()
		}
		n := copy(buf, arg)
		if cmd == "produce" {
			if err := p.Commit(n); err != nil {
				return "error: " + err.Error()
			}
			return "produced"
		}
		seq, length, _ := p.w.slot(p.pos)
		*length = uint64(n)
		p.publish(seq, p.pos+1)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return "unknown command " + cmd
}

// brk12Helper is a helper process of these tests.
type brk12Helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startBrk12Helper starts a helper in mode on r's files and returns it once
// it has printed its first line, which it returns too.
func startBrk12Helper(t *testing.T, r *Ring, mode string) (*brk12Helper, string) {
	t.Helper()
	files, err := r.Files()
	require.NoError(t, err)
	return startBrk12HelperOn(t, files, mode)
}

// startBrk12HelperOn is startBrk12Helper on the ring's files.
func startBrk12HelperOn(t *testing.T, files []*os.File, mode string) (*brk12Helper, string) {
	t.Helper()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), envBrk12Helper+"="+mode)
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	h := &brk12Helper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return h, h.line()
}

// do sends the helper a command and returns its answer ("" if it ended).
func (h *brk12Helper) do(cmd string) string {
	fmt.Fprintln(h.stdin, cmd)
	return h.line()
}

// tear has the helper commit frame but for its head, and die there (see
// the tear command); it reaps it.
func (h *brk12Helper) tear(frame string) {
	fmt.Fprintln(h.stdin, "tear "+frame)
	h.cmd.Wait()
}

// kill has the helper SIGKILL itself, and reaps it.
func (h *brk12Helper) kill() {
	fmt.Fprintln(h.stdin, "die")
	h.cmd.Wait()
}

func (h *brk12Helper) line() string {
	if h.out.Scan() {
		return h.out.Text()
	}
	return ""
}

// runBrk12NoInit plays a backend whose main forgot mp.Init: it records
// that it was started as a backend, creates a named ring under the
// MP_SHM_PREFIX it inherits, and exits without closing it (as such a
// program, running as a frontend inside the child, may well do). It
// prints "created <segment>" if it got that far.
func runBrk12NoInit() int {
	initcheck.StartedAs("Brk12")
	r, err := CreateRing("forgot", RingConfig{SlotSize: 64, Slots: 2})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("created", r.Name())
	return 0
}
