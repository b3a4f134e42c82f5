// Chapter 5, shm2: shared memory on demand.
//
// In shm1 the segment existed before the backend started. Here the
// frontend makes one while the backend runs, with an element type and a
// shape chosen at run time, and tells the backend about it in a message:
// the backend maps its "client side" of the resource, uses it, and unmaps
// it when told. The frontend, which created it, closes it last and unlinks
// it. Nothing is left in /dev/shm, and nothing complains at exit.
//
// Run it with: go run ./part1/shm2 [-dtype float32] [-shape 200x200]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/shm"
)

// MyProcess is the frontend.
type MyProcess struct{ *mp.Process }

// Attach tells the backend to map the array described by spec, and returns
// once it has.
func (p MyProcess) Attach(ctx context.Context, spec shm.Spec) error {
	_, err := p.Call(ctx, "attach", mp.Params{"name": spec.Name, "dtype": spec.DType, "shape": spec.Shape})
	return err
}

// ReadWrite asks the backend to rewrite the array, and returns once it has.
func (p MyProcess) ReadWrite(ctx context.Context) error {
	_, err := p.Call(ctx, "readWrite", nil)
	return err
}

// Detach tells the backend to unmap the array, and returns once it has.
func (p MyProcess) Detach(ctx context.Context) error {
	_, err := p.Call(ctx, "detach", nil)
	return err
}

// myBackend is the backend. Its array's element type is known only at run
// time, hence the interface type.
type myBackend struct {
	*mp.Backend
	array shm.AnyArray
}

// attach maps the segment named in the message, with its type and shape.
func (b *myBackend) attach(ctx context.Context, m mp.Message) error {
	var spec shm.Spec
	var err error
	if spec.Name, err = m.Params.String("name"); err != nil {
		return err
	}
	if spec.DType, err = m.Params.String("dtype"); err != nil {
		return err
	}
	if spec.Shape, err = m.Params.Ints("shape"); err != nil {
		return err
	}
	if b.array, err = shm.OpenAny(spec); err != nil {
		return err
	}
	b.Log().Info(fmt.Sprintf("attached %s array of shape %v", spec.DType, spec.Shape))
	return nil
}

// readWrite sets every value to 3, whatever the element type.
func (b *myBackend) readWrite(ctx context.Context, m mp.Message) error {
	if b.array == nil {
		return fmt.Errorf("readWrite before attach")
	}
	b.Log().Info("readWrite: setting every value to 3")
	return fill(b.array, 3)
}

// detach unmaps the array; the segment itself stays, as it is the
// frontend's to unlink.
func (b *myBackend) detach(ctx context.Context, m mp.Message) error {
	if b.array == nil {
		return nil
	}
	err := b.array.Close()
	b.array = nil
	b.Log().Info("detached")
	return err
}

// PostRun unmaps the array if the frontend never said detach.
func (b *myBackend) PostRun() error {
	if b.array != nil {
		return b.array.Close()
	}
	return nil
}

var myProcess = mp.NewKind("MyProcess", func(b *mp.Backend) *myBackend { return &myBackend{Backend: b} }).
	Handle("attach", (*myBackend).attach).
	Handle("readWrite", (*myBackend).readWrite).
	Handle("detach", (*myBackend).detach)

func main() {
	mp.Init()
	dtype := flag.String("dtype", "float32", "element type: "+strings.Join(shm.DTypes(), ", "))
	shape := flag.String("shape", "200x200", fmt.Sprintf("shape, e.g. 200x200 or 10x20x30 (at most %d values)", maxValues))
	// Bad input is a usage error (status 2) before anything starts.
	story.ParseFlags("part1/shm2")
	dims, err := parseShape(*shape)
	switch {
	case err != nil:
		story.Usage(err)
	case !slices.Contains(shm.DTypes(), *dtype):
		story.Usage(fmt.Errorf("bad -dtype %q: want one of %s", *dtype, strings.Join(shm.DTypes(), ", ")))
	}
	log := mplog.New("main", mplog.Front)
	// Ctrl-C (SIGINT) and SIGTERM cancel ctx instead of killing the
	// program. Every wait below takes ctx, so a signal unwinds run through
	// its deferred clean-up: the backend is stopped, the segment unlinked.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *dtype, dims); err != nil || ctx.Err() != nil {
		story.Exit(ctx, log, err)
	}
	log.Info("bye")
}

func run(ctx context.Context, log *slog.Logger, dtype string, shape []int) error {
	p, err := myProcess.Start(ctx, mp.Options{Name: "my-process"})
	if err != nil {
		return err
	}
	defer p.Close()
	front := MyProcess{p}
	if err := story.Pause(ctx, time.Second); err != nil {
		return err
	}

	// The backend is running; only now is the array made, on demand.
	array, err := shm.CreateAny("my-array", dtype, shape...)
	if err != nil {
		return err
	}
	defer array.Unlink()
	defer array.Close()
	if err := fill(array, 1); err != nil {
		return err
	}
	log.Info(fmt.Sprintf("created %s array of shape %v, all 1", dtype, shape))

	if err := front.Attach(ctx, array.Spec()); err != nil {
		return err
	}
	if err := front.ReadWrite(ctx); err != nil {
		return err
	}
	log.Info("frontend sees " + describe(array))

	// Client side first, server side last: the backend unmaps, then the
	// frontend, which created the segment, unmaps and unlinks it. (The
	// deferred calls above cover the error paths; here they find nothing
	// left to do.)
	if err := front.Detach(ctx); err != nil {
		return err
	}
	if err := array.Close(); err != nil {
		return err
	}
	if err := array.Unlink(); err != nil {
		return err
	}
	log.Info("frontend closed and unlinked the array")
	return p.Close()
}

// fill sets every element of a to v, whatever its element type.
func fill(a shm.AnyArray, v float64) error {
	switch a := a.(type) {
	case *shm.Array[float32]:
		return a.Fill(float32(v))
	case *shm.Array[float64]:
		return a.Fill(v)
	case *shm.Array[int32]:
		return a.Fill(int32(v))
	case *shm.Array[int64]:
		return a.Fill(int64(v))
	case *shm.Array[uint8]:
		return a.Fill(uint8(v))
	default:
		return fmt.Errorf("unsupported array %T", a)
	}
}

// describe tells the first value and the sum of a, whatever its element type.
func describe(a shm.AnyArray) string {
	switch a := a.(type) {
	case *shm.Array[float32]:
		return summary(a)
	case *shm.Array[float64]:
		return summary(a)
	case *shm.Array[int32]:
		return summary(a)
	case *shm.Array[int64]:
		return summary(a)
	case *shm.Array[uint8]:
		return summary(a)
	}
	return fmt.Sprintf("unsupported array %T", a)
}

// summary sums in float64: Array.Sum adds in the element type, fast
// but, for integers, modulo their range (40,000 uint8 threes would make 192).
func summary[T shm.Elem](a *shm.Array[T]) string {
	var sum float64
	for _, v := range a.Data() {
		sum += float64(v)
	}
	return fmt.Sprintf("first value %v, sum %s", a.Data()[0], strconv.FormatFloat(sum, 'f', -1, 64))
}

// maxValues bounds an array's number of values: 2^25, 256 MiB of float64.
// A segment lives in /dev/shm, which is memory, and the chapter fills and
// sums every value.
const maxValues = 1 << 25

// maxDims bounds a shape's number of sizes: mp/shm's arrays have 1 to 8
// dimensions, and shm.CreateAny refuses more only once the chapter runs.
const maxDims = 8

// parseShape turns "200x200" into [200 200].
func parseShape(s string) ([]int, error) {
	var dims []int
	values := 1
	fields := strings.Split(s, "x")
	if len(fields) > maxDims {
		return nil, fmt.Errorf("bad shape %q: %d sizes, want 1 to %d (an array has at most %d dimensions)", s, len(fields), maxDims, maxDims)
	}
	for _, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad shape %q: want sizes like 200x200", s)
		}
		if values *= n; n > maxValues || values > maxValues {
			return nil, fmt.Errorf("bad shape %q: more than %d values (256 MiB of float64); the array is memory in /dev/shm", s, maxValues)
		}
		dims = append(dims, n)
	}
	return dims, nil
}
