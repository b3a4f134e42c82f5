package shm

import "slices"

// Elem is the set of element types an Array can hold: plain numbers, never
// Go pointers, which mean nothing in another process.
type Elem interface {
	float32 | float64 | int32 | int64 | uint8
}

// dtypes names element types on the wire, as numpy does ("float64" …),
// and codes them in segment headers (the index).
var dtypes = []string{1: "float32", 2: "float64", 3: "int32", 4: "int64", 5: "uint8"}

// DType returns the name of element type T, as numpy spells it:
// "float32", "float64", "int32", "int64" or "uint8".
func DType[T Elem]() string { return dtypes[dtypeCode[T]()] }

func dtypeCode[T Elem]() uint32 {
	var zero T
	switch any(zero).(type) {
	case float32:
		return 1
	case float64:
		return 2
	case int32:
		return 3
	case int64:
		return 4
	}
	return 5
}

// DTypes returns the names of the element types, in a fixed order:
// float32, float64, int32, int64, uint8.
func DTypes() []string { return slices.Clone(dtypes[1:]) }
