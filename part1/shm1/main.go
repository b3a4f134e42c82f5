// Chapter 4, shm1: share memory with the backend.
//
// Bulk data does not travel in messages: it lives in shared memory, which
// both processes map. The frontend creates a named segment first (the
// "server side"); the backend opens the same name in its pre-run hook (the
// "client side"), changes every value, and sets an event; the frontend then
// reads the new values from its own mapping. Only the frontend, which
// created the segment, unlinks it.
//
// Run it with: go run ./part1/shm1
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/shm"
)

// MyProcess is the frontend.
type MyProcess struct{ *mp.Process }

// ReadWrite asks the backend to rewrite the shared array, and waits until
// it has.
func (p MyProcess) ReadWrite(ctx context.Context) error {
	done, err := p.NewEvent()
	if err != nil {
		return err
	}
	defer done.Close()
	if err := p.Send(ctx, "readWrite", mp.Params{"event": done.ID()}); err != nil {
		return err
	}
	return done.Wait(ctx)
}

// myBackend is the backend; the array is its mapping of the segment.
type myBackend struct {
	*mp.Backend
	array *shm.Array[float64]
}

// PreRun runs in the child before the first message: the place to map the
// shared memory the frontend made.
func (b *myBackend) PreRun(ctx context.Context) error {
	name, err := b.Params().String("array")
	if err != nil {
		return err
	}
	b.array, err = shm.Open[float64](name, 100, 100)
	if err != nil {
		return err
	}
	b.Log().Info(fmt.Sprintf("pre-run: mapped shared array of shape %v", b.array.Shape()))
	return nil
}

// PostRun runs in the child after the loop: unmap, but do not unlink. The
// segment is the frontend's.
func (b *myBackend) PostRun() error {
	b.Log().Info("post-run: unmapping the shared array")
	if b.array == nil {
		return nil
	}
	return b.array.Close()
}

// readWrite changes every value of the array, then says so.
func (b *myBackend) readWrite(ctx context.Context, m mp.Message) error {
	done, err := eventOf(b.Backend, m)
	if err != nil {
		return err
	}
	data := b.array.Data()
	b.Log().Info(fmt.Sprintf("readWrite: array[0] is %.1f, setting every value to 3.0", data[0]))
	if err := b.array.Fill(3.0); err != nil {
		return err
	}
	return done.Set()
}

// eventOf returns the backend's side of the event whose ID m carries.
func eventOf(b *mp.Backend, m mp.Message) (*mp.Event, error) {
	id, err := m.Params.Int("event")
	if err != nil {
		return nil, err
	}
	return b.Event(id)
}

var myProcess = mp.NewKind("MyProcess", func(b *mp.Backend) *myBackend { return &myBackend{Backend: b} }).
	Handle("readWrite", (*myBackend).readWrite)

func main() {
	mp.Init()
	// No flags, but -h says so, and anything else is a usage error.
	story.ParseFlags("part1/shm1")
	log := mplog.New("main", mplog.Front)
	// Ctrl-C (SIGINT) and SIGTERM cancel ctx instead of killing the
	// program. Every wait below takes ctx, so a signal unwinds run through
	// its deferred clean-up: the backend is stopped, nothing is left.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil || ctx.Err() != nil {
		story.Exit(ctx, log, err)
	}
	log.Info("bye")
}

func run(ctx context.Context, log *slog.Logger) error {
	// The frontend creates the segment before the backend exists.
	array, err := shm.Create[float64]("my-array", 100, 100)
	if err != nil {
		return err
	}
	// Deferred in this order, these run as: unmap, then unlink. Both happen
	// on every path out of run, errors included.
	defer array.Unlink()
	defer array.Close()
	if err := array.Fill(1.0); err != nil {
		return err
	}
	log.Info(fmt.Sprintf("created shared array %v of %d float64, all %.1f", array.Shape(), array.Len(), array.Data()[0]))

	// Its name travels to the backend with the start parameters; Start
	// returns once the backend's pre-run hook has mapped it.
	p, err := myProcess.Start(ctx, mp.Options{Name: "my-process", Events: 1, Params: mp.Params{"array": array.Name()}})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := story.Pause(ctx, time.Second); err != nil {
		return err
	}

	log.Info("calling readWrite")
	if err := (MyProcess{p}).ReadWrite(ctx); err != nil {
		return err
	}
	sum, err := array.Sum()
	if err != nil {
		return err
	}
	log.Info(fmt.Sprintf("frontend sees array[0] = %.1f, sum %.0f", array.Data()[0], sum))

	return p.Close()
}
