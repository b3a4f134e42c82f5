package mp

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The shared-array benchmarks report throughput (b.SetBytes):
//
//	go test -run '^$' -bench 'Shared' -count 5 ./mp

var benchShapes = [][]int{{4096, 4096}, {100, 100}}

// Each size also runs on an ordinary Go slice ("heap…"): the floor, what the
// machine's memory allows. Large arrays do not fit in any cache, so they run
// at the memory's bandwidth whatever the code does.
func BenchmarkSharedFill(b *testing.B) {
	for _, shape := range benchShapes {
		size := fmt.Sprintf("%dx%d", shape[0], shape[1])
		b.Run(size, func(b *testing.B) {
			a := benchArray(b, shape)
			b.SetBytes(int64(a.Len() * 8))
			v := 0.0
			for b.Loop() {
				v++
				a.Fill(v)
			}
			require.Equal(b, v, a.Data()[a.Len()-1])
		})
		// The same fill on an ordinary Go slice, with a non-zero value as
		// above and with zero: the same stores run faster when they write
		// zeros on this machine, so heap-zero and heap-clear are the
		// ceiling for zeros only.
		for _, zero := range []bool{false, true} {
			name := size + "/heap"
			if zero {
				name += "-zero"
			}
			b.Run(name, func(b *testing.B) {
				s := make([]float64, shape[0]*shape[1])
				fill(s, 1)
				b.SetBytes(int64(len(s) * 8))
				v := 0.0
				for b.Loop() {
					if !zero {
						v++
					}
					fill(s, v)
				}
				require.Equal(b, v, s[len(s)-1])
			})
		}
		// The runtime's memclr on a Go slice, the fastest stores Go has
		// (wide, non-temporal for large sizes), for zeros only.
		b.Run(size+"/heap-clear", func(b *testing.B) {
			s := make([]float64, shape[0]*shape[1])
			clear(s)
			b.SetBytes(int64(len(s) * 8))
			for b.Loop() {
				clear(s)
			}
		})
	}
}

var sink float64

func BenchmarkSharedSum(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d", shape[0], shape[1]), func(b *testing.B) {
			a := benchArray(b, shape)
			a.Fill(1)
			b.SetBytes(int64(a.Len() * 8))
			for b.Loop() {
				sink = a.Sum()
			}
			require.Equal(b, float64(a.Len()), sink)
		})
		b.Run(fmt.Sprintf("%dx%d/heap", shape[0], shape[1]), func(b *testing.B) {
			s := make([]float64, shape[0]*shape[1])
			fill(s, 1)
			b.SetBytes(int64(len(s) * 8))
			for b.Loop() {
				sink = sum(s)
			}
		})
		// The floor for reading: the runtime's vectorized byte search over
		// the same number of bytes, which only loads. (The memory must have
		// been written first: never-written memory reads the kernel's
		// shared zero page, which sits in cache and flatters every figure.)
		b.Run(fmt.Sprintf("%dx%d/heap-scan", shape[0], shape[1]), func(b *testing.B) {
			s := bytes.Repeat([]byte{1}, shape[0]*shape[1]*8)
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				if bytes.IndexByte(s, 0) >= 0 {
					b.Fatal("found a zero")
				}
			}
		})
	}
}

func benchArray(b *testing.B, shape []int) *SharedArray[float64] {
	useShmPrefix(b)
	a, err := CreateArray[float64]("bench", shape...)
	require.NoError(b, err)
	b.Cleanup(func() { a.Close(); a.Unlink() })
	a.Fill(0) // touch every page before timing: first touches are page faults
	return a
}

// shmBackend is shm1's backend: it maps the array in pre-run and rewrites
// it on request.
type shmBackend struct {
	*Backend
	array *SharedArray[float64]
}

func (s *shmBackend) PreRun(ctx context.Context) error {
	name, err := s.Params().String("array")
	if err != nil {
		return err
	}
	s.array, err = OpenArray[float64](name, 100, 100)
	return err
}

func (s *shmBackend) PostRun() error { return s.array.Close() }

var shmBenchKind = NewKind("ShmBench", func(b *Backend) *shmBackend { return &shmBackend{Backend: b} }).
	Handle("readWrite", func(s *shmBackend, ctx context.Context, m Message) error {
		v, _ := m.Float("value")
		i, _ := m.Int("event")
		s.array.Fill(v)
		return s.SetEvent(i)
	})

// BenchmarkSharedReadWrite is shm1's pattern: the frontend asks the backend
// to fill a 100×100 array, waits on an event, and reads the result.
func BenchmarkSharedReadWrite(b *testing.B) {
	useShmPrefix(b)
	a, err := CreateArray[float64]("rw", 100, 100)
	require.NoError(b, err)
	defer a.Unlink()
	defer a.Close()
	ctx := context.Background()
	p, err := shmBenchKind.Start(ctx, Options{Name: "shm-bench", Events: 1, Params: Params{"array": a.Name()}})
	require.NoError(b, err)
	defer p.Stop()
	events := p.Events()
	b.SetBytes(int64(a.Len() * 8))
	v := 0.0
	for b.Loop() {
		v++
		i, err := events.Reserve()
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Send(ctx, "readWrite", Params{"value": v, "event": i}); err != nil {
			b.Fatal(err)
		}
		if err := events.Wait(ctx, i); err != nil {
			b.Fatal(err)
		}
		events.Release(i)
		if got := a.Data()[a.Len()-1]; got != v {
			b.Fatalf("frontend sees %v, want %v", got, v)
		}
	}
}
