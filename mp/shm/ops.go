package shm

import (
	"fmt"
	"unsafe"
)

// Whole-array operations, written to run at memory bandwidth. Their floor is
// the same operation on an ordinary Go slice of the same size (see
// BenchmarkFill/…/heap): shared memory is just memory. Each holds the
// mapping while it runs (Close waits) and turns a fault on it into an error
// wrapping ErrFault; on an error the array may be partly written.

// Fill sets every element to v. It fails with ErrClosed after Close, and
// with ErrFault if the mapping faults.
func (a *Array[T]) Fill(v T) error {
	return a.use("fill", func(data []T) { fill(data, v) })
}

// Sum returns the sum of the elements, computed in T (integers wrap around,
// as Go's do; float32 loses precision on large arrays like any float32 sum,
// less so here thanks to eight separate partial sums). It fails with
// ErrClosed after Close, and with ErrFault if the mapping faults.
func (a *Array[T]) Sum() (T, error) {
	var s T
	err := a.use("sum", func(data []T) { s = sum(data) })
	return s, err
}

// CopyFrom copies src into the array. src must have exactly Len elements;
// otherwise nothing is copied and the error wraps ErrMismatch. It fails
// with ErrClosed after Close, and with ErrFault if the mapping faults.
func (a *Array[T]) CopyFrom(src []T) error {
	if len(src) != a.Len() {
		return fmt.Errorf("shm: copy into %q: %d elements for %d: %w", a.name, len(src), a.Len(), ErrMismatch)
	}
	return a.use("copy into", func(data []T) { copy(data, src) })
}

// Use calls fn with the elements (as Data returns them) while holding the
// mapping: Close waits until fn returns, and a fault on the mapping while
// fn runs ends fn and is returned as an error wrapping ErrFault (fn may
// then have done part of its work). fn must not keep the slice, nor call
// the array's methods (Close would wait for fn forever; the others hold
// the mapping again, which waits behind a pending Close). Use fails with
// ErrClosed after Close.
func (a *Array[T]) Use(fn func(data []T)) error {
	return a.use("use", fn)
}

// ntThreshold is the size from which fill bypasses the caches. Below it the
// array may well fit in cache, and the process that reads it next (often
// the other one, on the same machine) finds it there.
const ntThreshold = 4 << 20

// fill sets every element of s to v. Small arrays: v goes into the first
// block with plain stores, and copy (the runtime's memmove, with the widest
// vector stores the processor has) repeats that block over the rest, the
// source staying in L1. Large arrays: non-temporal stores, which do not read
// each line before overwriting it, so they run at the memory's write
// bandwidth, like the runtime's own clear.
func fill[T Elem](s []T, v T) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if haveFillNT && len(s)*size >= ntThreshold {
		fillLarge(s, v, size)
		return
	}
	fillBlocks(s, v)
}

// fillLarge fills s with non-temporal stores over its 64-byte-aligned
// middle, and plain stores over the ends.
func fillLarge[T Elem](s []T, v T, size int) {
	var pattern uint64
	for i, p := 0, unsafe.Slice((*T)(unsafe.Pointer(&pattern)), 8/size); i < len(p); i++ {
		p[i] = v
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	head := int((64-start%64)%64) / size // elements before the first aligned line
	if uintptr(head*size) != (64-start%64)%64 || head >= len(s) {
		fillBlocks(s, v) // misaligned elements, or too short: no tricks
		return
	}
	body := (len(s) - head) * size / 64 * 64 // bytes, whole lines
	fillBlocks(s[:head], v)
	fillNT((*byte)(unsafe.Pointer(&s[head])), body, pattern)
	fillBlocks(s[head+body/size:], v)
}

// fillBlocks writes v into the first block, then copies that block over the
// rest.
func fillBlocks[T Elem](s []T, v T) {
	const block = 512
	n := min(block, len(s))
	head := s[:n]
	for i := range head {
		head[i] = v
	}
	for i := n; i < len(s); i += n {
		copy(s[i:], head)
	}
}

// sum adds with eight independent partial sums, so that eight additions can
// be in flight at once instead of each waiting for the one before.
func sum[T Elem](s []T) T {
	var s0, s1, s2, s3, s4, s5, s6, s7 T
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8 : i+8]
		s0 += b[0]
		s1 += b[1]
		s2 += b[2]
		s3 += b[3]
		s4 += b[4]
		s5 += b[5]
		s6 += b[6]
		s7 += b[7]
	}
	for ; i < len(s); i++ {
		s0 += s[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}
