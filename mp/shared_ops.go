package mp

// Whole-array operations, written to run at memory bandwidth: independent
// stores and independent accumulators let the processor keep several in
// flight, where a plain loop waits on each previous iteration.

// Fill sets every element to v.
func (a *SharedArray[T]) Fill(v T) { fill(a.Data(), v) }

// Sum returns the sum of the elements, computed in T (integers wrap around,
// as Go's do; float32 loses precision on large arrays like any float32 sum,
// less so here thanks to four separate partial sums).
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

func fill[T Elem](s []T, v T) {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8 : i+8]
		b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7] = v, v, v, v, v, v, v, v
	}
	for ; i < len(s); i++ {
		s[i] = v
	}
}

func sum[T Elem](s []T) T {
	var s0, s1, s2, s3 T
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8 : i+8]
		s0 += b[0] + b[4]
		s1 += b[1] + b[5]
		s2 += b[2] + b[6]
		s3 += b[3] + b[7]
	}
	for ; i < len(s); i++ {
		s0 += s[i]
	}
	return (s0 + s1) + (s2 + s3)
}
