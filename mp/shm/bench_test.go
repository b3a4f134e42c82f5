package shm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The shared-array benchmarks report throughput (b.SetBytes):
//
//	go test -run '^$' -bench . -count 5 ./mp/shm

var benchShapes = [][]int{{4096, 4096}, {100, 100}}

// Each size also runs on an ordinary Go slice ("heap…"): the floor, what the
// machine's memory allows. Large arrays do not fit in any cache, so they run
// at the memory's bandwidth whatever the code does.
func BenchmarkFill(b *testing.B) {
	for _, shape := range benchShapes {
		size := fmt.Sprintf("%dx%d", shape[0], shape[1])
		b.Run(size, func(b *testing.B) {
			a := benchArray(b, shape)
			b.SetBytes(int64(a.Len() * 8))
			v := 0.0
			for b.Loop() {
				v++
				if err := a.Fill(v); err != nil {
					b.Fatal(err)
				}
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

func BenchmarkSum(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d", shape[0], shape[1]), func(b *testing.B) {
			a := benchArray(b, shape)
			require.NoError(b, a.Fill(1))
			b.SetBytes(int64(a.Len() * 8))
			for b.Loop() {
				var err error
				if sink, err = a.Sum(); err != nil {
					b.Fatal(err)
				}
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

func benchArray(b *testing.B, shape []int) *Array[float64] {
	useShmPrefix(b)
	a, err := Create[float64]("bench", shape...)
	require.NoError(b, err)
	b.Cleanup(func() { a.Close(); a.Unlink() })
	require.NoError(b, a.Fill(0)) // touch every page before timing: first touches are page faults
	return a
}

// BenchmarkGuard is what Fill, Sum, CopyFrom and Use add to each call (the
// read lock that Close waits on, and the fault guard), around an empty
// function: compare it with the time of one Fill or Sum above.
func BenchmarkGuard(b *testing.B) {
	a := benchArray(b, []int{1})
	for b.Loop() {
		if err := a.Use(func([]float64) {}); err != nil {
			b.Fatal(err)
		}
	}
}
