// Command forgotinit makes a mistake on purpose: its main does not call
// mp.Init first. It shows what then happens, as docs/troubleshooting.md
// tells it: the backend, which is this program started again, runs main as
// if it were the frontend, until its first call into mp or mp/shm stops it
// with status 5, before it has made anything; Start fails with
// mp.ErrNoInit. Nothing is left behind, in /dev/shm or elsewhere.
//
//	go run ./examples/forgotinit
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/shm"
)

type worker struct{ *mp.Backend }

var workers = mp.NewKind("Worker", func(b *mp.Backend) *worker { return &worker{b} })

func main() {
	// The mistake: mp.Init() belongs here.

	// A write to a closed standard output (forgotinit | head -1) returns
	// an error instead of killing the program with SIGPIPE before its
	// deferred Unlink runs, which left the segment in /dev/shm.
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(run())
}

func run() int {
	// In the child this is where main stops: a named segment would outlive
	// it, so mp/shm refuses to make one in a backend that never called
	// mp.Init.
	forgotten, err := shm.Create[float64]("forgotten", 4)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer forgotten.Unlink()
	defer forgotten.Close()

	_, err = workers.Start(context.Background(), mp.Options{Name: "worker-1"})
	fmt.Println("Start:", err)
	fmt.Println("errors.Is(err, mp.ErrNoInit):", errors.Is(err, mp.ErrNoInit))
	fmt.Println("errors.Is(err, mp.ErrBackendDied):", errors.Is(err, mp.ErrBackendDied))

	// Only the frontend's own segment exists: the copy made none. A process
	// names its segments "<prefix><its PID>-<name>": this lists the
	// segments named "forgotten", whichever process made them, and leaves
	// out those of other programs under the same prefix.
	prefix, err := shm.Prefix()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	entries, err := os.ReadDir(shm.Dir)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	for _, e := range entries {
		if ours(e.Name(), prefix) {
			fmt.Println("in /dev/shm:", e.Name())
		}
	}
	return 0
}

// ours reports whether segment name is one this program makes, in any of
// its processes: the prefix, a PID, then "-forgotten".
func ours(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	pid, named := strings.CutSuffix(rest, "-forgotten")
	_, err := strconv.ParseUint(pid, 10, 32)
	return ok && named && err == nil
}
