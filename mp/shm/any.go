package shm

import "fmt"

// AnyArray is an array whose element type is known only at run time (from
// a Spec in a message, say). Its dynamic type is *Array[T]; a type switch
// gets the typed array back.
type AnyArray interface {
	// Name returns the segment name, as Array.Name does.
	Name() string
	// Spec returns what another process needs to open the array by name.
	Spec() Spec
	// Shape returns a copy of the array's shape.
	Shape() []int
	// Len returns the number of elements: the product of the shape.
	Len() int
	// Owner reports whether this process created the segment.
	Owner() bool
	// Close unmaps the array from this process, as Array.Close does.
	Close() error
	// Unlink removes the segment's name; only its creator may, as
	// Array.Unlink says.
	Unlink() error
}

// OpenAny opens the named array spec describes, with the element type it
// names. An unknown type is an error wrapping ErrBadDType; the rest are
// Open's.
func OpenAny(spec Spec) (AnyArray, error) {
	switch spec.DType {
	case "float32":
		return asAny(Open[float32](spec.Name, spec.Shape...))
	case "float64":
		return asAny(Open[float64](spec.Name, spec.Shape...))
	case "int32":
		return asAny(Open[int32](spec.Name, spec.Shape...))
	case "int64":
		return asAny(Open[int64](spec.Name, spec.Shape...))
	case "uint8":
		return asAny(Open[uint8](spec.Name, spec.Shape...))
	}
	return nil, fmt.Errorf("shm: open %q: %w %q (want float32, float64, int32, int64 or uint8)", spec.Name, ErrBadDType, spec.DType)
}

// CreateAny creates a named array whose element type is given by its name
// ("float32" …). An unknown type is an error wrapping ErrBadDType; the rest
// are Create's.
func CreateAny(name, dtype string, shape ...int) (AnyArray, error) {
	switch dtype {
	case "float32":
		return asAny(Create[float32](name, shape...))
	case "float64":
		return asAny(Create[float64](name, shape...))
	case "int32":
		return asAny(Create[int32](name, shape...))
	case "int64":
		return asAny(Create[int64](name, shape...))
	case "uint8":
		return asAny(Create[uint8](name, shape...))
	}
	return nil, fmt.Errorf("shm: create %q: %w %q (want float32, float64, int32, int64 or uint8)", name, ErrBadDType, dtype)
}

// asAny converts a typed result to AnyArray without the typed-nil trap: on
// error the interface itself is nil, so callers can test arr == nil as well
// as err != nil.
func asAny[T Elem](a *Array[T], err error) (AnyArray, error) {
	if err != nil {
		return nil, err
	}
	return a, nil
}
