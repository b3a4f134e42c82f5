// Command squares uses the rest of the library in a program of its own:
// typed commands and reports, an event, and an array in shared memory. The
// frontend makes the array; the backend maps it, squares part of it on a
// typed call, reporting its progress with a typed report, and negates all
// of it on a command that answers by setting an event instead of a reply.
// The frontend sees every change in its own mapping: no value travels in a
// message.
//
//	go run ./examples/squares
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/shm"
)

// The messages between the two sides, as Go types. Both sides use the same
// declarations, so the compiler checks what each sends and receives.
type (
	// Span is the part of the array to square, [From, To).
	Span struct{ From, To int }
	// Total is square's reply: the sum of the values it squared.
	Total struct{ Sum float64 }
	// Progress is what the backend reports while it squares.
	Progress struct{ Done, Of int }
	// Signal names the event to set when the work is done.
	Signal struct{ Event int }
)

var (
	square   = mp.NewCommand[Span, Total]("square")
	negate   = mp.NewCommand[Signal, struct{}]("negate")
	progress = mp.NewReport[Progress]("progress")
)

// worker is the backend: its mapping of the frontend's array.
type worker struct {
	*mp.Backend
	data *shm.Array[float64]
}

// PreRun maps the array the frontend handed over as the process's first
// extra file: an anonymous array has no name to open.
func (w *worker) PreRun(ctx context.Context) error {
	n, err := w.Params().Int("len")
	if err != nil {
		return err
	}
	w.data, err = shm.OpenFile[float64](w.File(0), n)
	return err
}

// PostRun unmaps it. The memory goes with the last process that maps it.
func (w *worker) PostRun() error {
	if w.data == nil {
		return nil
	}
	return w.data.Close()
}

// square squares the values of the span in place, reporting after each
// half, and replies with their sum.
func (w *worker) square(ctx context.Context, s Span) (Total, error) {
	data := w.data.Data()
	if s.From < 0 || s.To > len(data) || s.From > s.To {
		return Total{}, fmt.Errorf("span %v is outside the array of %d values", s, len(data))
	}
	var t Total
	half := s.From + (s.To-s.From)/2
	for i := s.From; i < s.To; i++ {
		data[i] *= data[i]
		t.Sum += data[i]
		if i+1 == half || i+1 == s.To {
			if err := progress.Send(ctx, w.Backend, Progress{Done: i + 1 - s.From, Of: s.To - s.From}); err != nil {
				return t, err
			}
		}
	}
	return t, nil
}

// negate negates every value, then sets the event the frontend waits on.
func (w *worker) negate(ctx context.Context, s Signal) (struct{}, error) {
	data := w.data.Data()
	for i := range data {
		data[i] = -data[i]
	}
	done, err := w.Event(s.Event)
	if err != nil {
		return struct{}{}, err
	}
	return struct{}{}, done.Set()
}

var workers = mp.NewKind("Worker", func(b *mp.Backend) *worker { return &worker{Backend: b} })

// The typed handlers are registered at package level too, so that the
// re-executed child has them before mp.Init looks for them. HandleCommand
// is a function, not a method: Go methods cannot take type parameters.
var (
	_ = mp.HandleCommand(workers, square, (*worker).square)
	_ = mp.HandleCommand(workers, negate, (*worker).negate)
)

func main() {
	mp.Init()

	// The command line, with the flag package: -h prints the usage and
	// exits 0; an unknown flag, or any argument, exits 2 before anything
	// has started.
	flag.Usage = func() { fmt.Fprintln(flag.CommandLine.Output(), "usage: squares") }
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "squares: unexpected arguments %q: squares takes no arguments\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Stdout)
	if ctx.Err() != nil {
		// Ctrl-C or SIGTERM: run has stopped the backend, and its error
		// (the context's) is no failure. Exit as a shell reports the
		// signal: 130 for SIGINT, 143 for SIGTERM.
		cause := context.Cause(ctx)
		fmt.Fprintln(os.Stderr, "squares:", cause)
		if strings.HasPrefix(cause.Error(), syscall.SIGTERM.String()) {
			os.Exit(128 + int(syscall.SIGTERM))
		}
		os.Exit(128 + int(syscall.SIGINT))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "squares:", err)
		stop()
		os.Exit(1)
	}
}

// run is the whole program, writing what it sees to out.
func run(ctx context.Context, out io.Writer) error {
	// The frontend makes the array before the backend exists.
	data, err := shm.CreateAnon[float64]("data", 8)
	if err != nil {
		return err
	}
	defer data.Close()
	for i := range data.Data() {
		data.Data()[i] = float64(i + 1)
	}
	fmt.Fprintln(out, "data:", data.Data())

	p, err := workers.Start(ctx, mp.Options{
		Name:   "worker-1",
		Events: 1,
		Files:  []*os.File{data.File()},
		Params: mp.Params{"len": data.Len()},
	})
	if err != nil {
		return err
	}
	defer p.Close()

	// A typed call: the request and the reply are Go values.
	total, err := square.Call(ctx, p, Span{From: 0, To: 4})
	if err != nil {
		return err
	}
	// The reports came before the reply, on Messages, in order.
	for range 2 {
		select {
		case m := <-p.Messages():
			pr, ok, err := progress.Decode(m)
			if err != nil || !ok {
				return fmt.Errorf("unexpected message %q: %v", m.Command, err)
			}
			fmt.Fprintf(out, "progress: %d of %d squared\n", pr.Done, pr.Of)
		case <-time.After(5 * time.Second):
			return fmt.Errorf("no progress report within 5 s")
		}
	}
	fmt.Fprintf(out, "square returned sum %g; data: %v\n", total.Sum, data.Data())

	// A command answered by an event: make one, send its ID, wait.
	done, err := p.NewEvent()
	if err != nil {
		return err
	}
	defer done.Close()
	if err := negate.Send(ctx, p, Signal{Event: done.ID()}); err != nil {
		return err
	}
	if err := done.Wait(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "negated; data:", data.Data())
	return p.Close()
}
