package mp

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

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
	// The test ends us with SIGTERM or SIGHUP and counts on its default
	// action. A signal ignored when a process starts stays ignored in the
	// processes it execs, and the Go runtime leaves such a SIGHUP alone:
	// under nohup (make stress in the background) the signal did nothing,
	// and the test waited for this frontend until its timeout. A frontend
	// on a terminal has the default action, so give it back.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		if err := unignore(sig); err != nil {
			fmt.Println("error:", err)
			return 1
		}
	}
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
		// Keep the backend busy in a handler that never returns: it will
		// not see the end of its command pipe, so only the parent-death
		// signal can end it when we are killed.
		return runOrphan("orphan", true)
	case "idleorphan":
		// A frontend killed while its backend waits for a command in
		// read(2) (plainread.go).
		return runOrphan("idle-orphan", false)
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
	case "noinit", "noinit-late", "upgrade":
		// A frontend (which forgot mp.Init, for noinit) that starts one
		// backend when told to on stdin, and says how that went. With
		// noinit-late it sends the start parameters only once the
		// backend has exited, as a loaded machine may.
		if mode == "noinit-late" {
			testHookBeforeStartParams = func(p *Process) { <-p.done }
		}
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
	if code, ok := exitHelpers(mode); ok {
		return code
	}
	fmt.Println("unknown helper", mode)
	return 2
}

// unignore gives sig its default action if it is ignored. os/signal cannot:
// signal.Reset restores the disposition the process started with, which is
// SIG_IGN here; so rt_sigaction(2) directly (the runtime has no handler
// installed for a signal that was ignored at start, so none is lost).
func unignore(sig syscall.Signal) error {
	// struct kernel_sigaction, all zero: SIG_DFL (0), no flags, empty
	// mask; 8 words are more than any architecture's.
	var old, dfl [8]uintptr
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); errno != 0 {
		return fmt.Errorf("rt_sigaction(%v): %w", sig, errno)
	}
	if old[0] != 1 { // SIG_IGN
		return nil
	}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0); errno != 0 {
		return fmt.Errorf("rt_sigaction(%v): %w", sig, errno)
	}
	return nil
}

// runOrphan starts a backend named name, busy in a handler that never
// returns if busy, else idle after one call, prints its PID and waits to be
// killed.
func runOrphan(name string, busy bool) int {
	p, err := testKind.Start(context.Background(), Options{Name: name, StopTimeout: helperStopTimeout})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if busy {
		if err := p.Send(context.Background(), "hang", nil); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		if m := <-p.Messages(); m.Command != "hanging" {
			fmt.Println("error: got", m.Command)
			return 1
		}
	} else if _, err := p.Call(context.Background(), "pid", nil); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("backend %d\n", p.Pid())
	select {}
}
