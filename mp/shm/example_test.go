package shm_test

import (
	"errors"
	"fmt"

	"github.com/mpgo/mp/mp/shm"
)

// An array is created by one side (the owner, which alone unlinks it) and
// opened by name, element type and shape by the other. Here both sides live
// in one process to keep the example short; in shm1 and shm2 the opener is
// a backend.
func ExampleCreate() {
	grid, err := shm.Create[float64]("example-grid", 2, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer grid.Close()
	defer grid.Unlink()
	if err := grid.Fill(1); err != nil {
		fmt.Println(err)
		return
	}

	// The spec is what travels in a message: name, element type, shape.
	spec := grid.Spec()
	fmt.Println(spec.DType, spec.Shape)
	view, err := shm.OpenAny(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer view.Close()
	other := view.(*shm.Array[float64])
	other.Data()[grid.Index(1, 2)] = 5

	sum, err := grid.Sum()
	fmt.Println(sum, err, grid.Data())
	_, err = shm.Open[int32](grid.Name(), 2, 3)
	fmt.Println(errors.Is(err, shm.ErrMismatch))
	// Output:
	// float64 [2 3]
	// 10 <nil> [1 1 1 1 1 5]
	// true
}
