package manager_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/mpgo/mp/mp"
)

// The test binary is also the workers' binary: Init first.
func TestMain(m *testing.M) {
	if os.Getenv(envFloorWriter) != "" {
		os.Exit(floorWriter()) // a process of BenchmarkFanIn's floor
	}
	mp.Init()
	// Every process of this test binary carries the tag, so the tests can
	// look for leftovers without touching anybody else's processes.
	if os.Getenv("MP_TEST_TAG") == "" {
		os.Setenv("MP_TEST_TAG", "mp-manager-"+strconv.Itoa(os.Getpid()))
	}
	// Under -race every process sleeps a second at exit by default; the
	// workers need not.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// job is what a test worker is asked to do.
type job struct {
	Sleep  time.Duration // then reply
	Hang   bool          // never return, whatever happens (deaf to SIGTERM)
	Panic  bool          // crash the worker
	Notify bool          // send "started" first
	Ticks  int           // send this many "tick" messages first
	Quit   bool          // end the worker after replying (Backend.Stop): a normal exit
	Tool   bool          // run "sleep 300" and wait for it, deaf to ctx; send "tool" with its pid first; crash after it if Panic
	Fail   string        // return an error with this text instead of the PID
	Deaf   time.Duration // sleep this long first, deaf to ctx and SIGTERM
	Term   bool          // deaf to ctx: wait for SIGTERM itself, send "term", then go on (crash if Panic)
}

var (
	doJob = mp.NewCommand[job, int]("job")
	burst = mp.NewCommand[int, struct{}]("burst")
)

type testWorker struct{ *mp.Backend }

// PreRun fails, hangs or ends the worker when the start parameters say
// so: "prerun" is "fail", "hang" (deaf to ctx) or "stop" (Backend.Stop).
func (w *testWorker) PreRun(ctx context.Context) error {
	switch s, _ := w.Params().String("prerun"); s {
	case "fail":
		return errors.New("database is locked")
	case "hang":
		select {}
	case "stop":
		w.Stop() // ends itself before taking any call
	}
	return nil
}

// PostRun hangs, deaf to SIGTERM, when the start parameters say
// "postrun": "hang" (a flush to a server that does not answer).
func (w *testWorker) PostRun() error {
	if s, _ := w.Params().String("postrun"); s == "hang" {
		select {}
	}
	return nil
}

func (w *testWorker) job(ctx context.Context, j job) (int, error) {
	term := make(chan os.Signal, 1)
	if j.Term {
		signal.Notify(term, syscall.SIGTERM) // before "started": none is missed
		defer signal.Stop(term)
	}
	if j.Notify {
		if err := w.Send(ctx, "started", mp.Params{"pid": os.Getpid()}); err != nil {
			return 0, err
		}
	}
	for range j.Ticks {
		if err := w.Send(ctx, "tick", nil); err != nil {
			return 0, err
		}
	}
	time.Sleep(j.Deaf)
	switch {
	case j.Term:
		<-term
		// Not ctx, which SIGTERM ended: this Send may have to wait a
		// moment for the pipe (the backend's announcement of its end).
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := w.Send(sctx, "term", nil)
		cancel()
		if err != nil {
			return 0, err
		}
		if j.Panic {
			panic("injected crash on SIGTERM")
		}
	case j.Tool:
		c := exec.Command("sleep", "300")
		if err := c.Start(); err != nil {
			return 0, err
		}
		if err := w.Send(ctx, "tool", mp.Params{"pid": c.Process.Pid}); err != nil {
			return 0, err
		}
		c.Wait()
		if j.Panic {
			panic("injected crash after the tool")
		}
	case j.Quit:
		w.Stop()
	case j.Panic:
		panic("injected crash")
	case j.Hang:
		select {}
	}
	select {
	case <-time.After(j.Sleep):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if j.Fail != "" {
		return 0, errors.New(j.Fail)
	}
	return os.Getpid(), nil
}

func (w *testWorker) burst(ctx context.Context, n int) (struct{}, error) {
	for range n {
		if err := w.Send(ctx, "tick", nil); err != nil {
			return struct{}{}, err
		}
	}
	return struct{}{}, nil
}

var testWorkers = mp.NewKind("TestWorker", func(b *mp.Backend) *testWorker { return &testWorker{b} })

func init() {
	mp.HandleCommand(testWorkers, doJob, (*testWorker).job)
	mp.HandleCommand(testWorkers, burst, (*testWorker).burst)
}

// tagged lists the live processes of this test binary's tag, other than
// the test binary itself.
func tagged() []int { return proctest.Tagged(os.Getenv(proctest.TagVar)) }
