package mp

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mpgo/mp/mp/shm"
)

// helperStopTimeout is the StopTimeout of the helpers' backends: short, so
// that the grace after SIGTERM (StopTimeout + 1 s) keeps the tests quick.
const helperStopTimeout = 200 * time.Millisecond

// exitPath plays a frontend that goes away without stopping its backend, in
// the way how says: it starts a "Marker" backend (whose post-run hook creates
// the file named by MP_TEST_MARKER), makes one call, prints "ready", then
// returns, panics, calls os.Exit(1), or waits for a signal (the test sends
// SIGTERM or SIGHUP, whose default action kills us).
func exitPath(how string) int {
	p, err := markerKind.Start(context.Background(), Options{Name: "marker-" + how, StopTimeout: helperStopTimeout,
		Params: Params{"marker": os.Getenv("MP_TEST_MARKER")}})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if _, err := p.Call(context.Background(), "touch", nil); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("ready %d\n", p.Pid())
	switch how {
	case "return":
		return 0
	case "panic":
		panic("the frontend panics")
	case "exit":
		os.Exit(1)
	}
	select {}
}

// runHelper runs the test binary as a frontend for tests that must kill a
// frontend: it starts a backend, prints its PID, and waits to be killed.
func runHelper(mode string) int {
	switch mode {
	case "orphan":
		p, err := testKind.Start(context.Background(), Options{Name: "orphan", StopTimeout: helperStopTimeout})
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		// Keep the backend busy in a handler that never returns: it will
		// not see the end of its command pipe, so only the parent-death
		// signal can end it when we are killed.
		if err := p.Send(context.Background(), "hang", nil); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		if m := <-p.Messages(); m.Command != "hanging" {
			fmt.Println("error: got", m.Command)
			return 1
		}
		fmt.Printf("backend %d\n", p.Pid())
		select {}
	case "shmorphan":
		// A frontend that dies holding a segment: create it, have a backend
		// map it, say so, and wait to be killed.
		a, err := shm.Create[float64]("orphaned", 8)
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		p, err := testKind.Start(context.Background(), Options{Name: "shm-orphan", StopTimeout: helperStopTimeout})
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		if err := p.Send(context.Background(), "shmhold", Params{"name": a.Name()}); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		<-p.Messages()
		fmt.Printf("backend %d segment %s\n", p.Pid(), a.Name())
		select {}
	}
	switch mode {
	case "plain":
		// An ordinary program, which must not turn into a backend
		// whatever its environment says.
		fmt.Println("an ordinary run")
		return 0
	case "noinit", "upgrade":
		// A frontend (which forgot mp.Init, for noinit) that starts one
		// backend when told to on stdin, and says how that went.
		if mode == "upgrade" {
			fmt.Println("waiting")
			fmt.Scanln()
		}
		p, err := testKind.Start(context.Background(), Options{Name: mode})
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		defer p.Close()
		if _, err := p.Call(context.Background(), "pid", nil); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Println("started")
		return 0
	}
	if how, ok := strings.CutPrefix(mode, "exitpath-"); ok {
		return exitPath(how)
	}
	fmt.Println("unknown helper", mode)
	return 2
}
