package mp

import (
	"context"
	"testing"

	"github.com/mpgo/mp/mp/shm"
	"github.com/stretchr/testify/require"
)

// The array benchmarks themselves are in package shm; this one needs a
// backend process.
//
//	go test -run '^$' -bench 'SharedReadWrite' -count 5 ./mp

// shmBackend is shm1's backend: it maps the array in pre-run and rewrites
// it on request.
type shmBackend struct {
	*Backend
	array *shm.Array[float64]
}

func (s *shmBackend) PreRun(ctx context.Context) error {
	name, err := s.Params().String("array")
	if err != nil {
		return err
	}
	s.array, err = shm.Open[float64](name, 100, 100)
	return err
}

func (s *shmBackend) PostRun() error { return s.array.Close() }

var shmBenchKind = NewKind("ShmBench", func(b *Backend) *shmBackend { return &shmBackend{Backend: b} }).
	Handle("readWrite", func(s *shmBackend, ctx context.Context, m Message) error {
		v, _ := m.Params.Float("value")
		id, _ := m.Params.Int("event")
		if err := s.array.Fill(v); err != nil {
			return err
		}
		ev, err := s.Event(id)
		if err != nil {
			return err
		}
		return ev.Set()
	})

// BenchmarkSharedReadWrite is shm1's pattern: the frontend asks the backend
// to fill a 100×100 array, waits on an event, and reads the result.
func BenchmarkSharedReadWrite(b *testing.B) {
	useShmPrefix(b)
	a, err := shm.Create[float64]("rw", 100, 100)
	require.NoError(b, err)
	defer a.Unlink()
	defer a.Close()
	ctx := context.Background()
	p, err := shmBenchKind.Start(ctx, Options{Name: "shm-bench", Events: 1, Params: Params{"array": a.Name()}})
	require.NoError(b, err)
	defer p.Close()
	b.SetBytes(int64(a.Len() * 8))
	v := 0.0
	for b.Loop() {
		v++
		ev, err := p.NewEvent()
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Send(ctx, "readWrite", Params{"value": v, "event": ev.ID()}); err != nil {
			b.Fatal(err)
		}
		if err := ev.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		ev.Close()
		if got := a.Data()[a.Len()-1]; got != v {
			b.Fatalf("frontend sees %v, want %v", got, v)
		}
	}
}
