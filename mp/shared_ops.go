package mp

// Whole-array operations, written to run at memory bandwidth. Their floor is
// the same operation on an ordinary Go slice of the same size (see
// BenchmarkSharedFill/…/heap): shared memory is just memory.

// Fill sets every element to v.
func (a *SharedArray[T]) Fill(v T) { fill(a.Data(), v) }

// Sum returns the sum of the elements, computed in T (integers wrap around,
// as Go's do; float32 loses precision on large arrays like any float32 sum,
// less so here thanks to eight separate partial sums).
func (a *SharedArray[T]) Sum() T { return sum(a.Data()) }

// CopyFrom copies src into the array. src must have exactly Len elements;
// otherwise nothing is copied and the error wraps ErrMismatch.
func (a *SharedArray[T]) CopyFrom(src []T) error {
	data := a.Data()
	if data == nil {
		return ErrClosed
	}
	if len(src) != len(data) {
		return errMismatchLen(a.name, len(src), len(data))
	}
	copy(data, src)
	return nil
}

// fill writes v into the first block with plain stores, then copies that
// block over the rest: copy is the runtime's memmove, which uses the widest
// vector stores the processor has, and the source block stays in L1.
func fill[T Elem](s []T, v T) {
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
