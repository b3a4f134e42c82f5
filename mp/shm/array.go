package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Spec describes a named array so that another process can open it: the
// segment name, the element type's name and the shape. It is what travels
// in a message (shm2's "on demand" flow); OpenAny takes it.
type Spec struct {
	Name  string // segment name, as Array.Name returns it
	DType string // "float32", "float64", "int32", "int64" or "uint8"
	Shape []int  // the length of each dimension, as Array.Shape returns it
}

// Array is an N-dimensional array of T in shared memory, mapped into this
// process, like a numpy ndarray over a multiprocessing SharedMemory buffer.
// The creator owns a named segment and alone unlinks it; other processes
// open it by name and only map and unmap.
//
// The methods are safe for concurrent use: Close waits for the Fill, Sum,
// CopyFrom or Use running on the array, and the ones that come after it
// fail with ErrClosed. A fault on the mapping (the segment shrunk by
// another process) is an error wrapping ErrFault from those methods, never
// a crash. The elements themselves are not synchronized: hand the data from
// one process to the other explicitly (a message, an event), as the
// chapters do. Data is the unguarded way in; see its contract.
type Array[T Elem] struct {
	name  string
	shape []int
	owner bool
	anon  *os.File // memfd of an anonymous array, nil for a named one

	// mu is held shared by each operation on the mapping, and exclusively
	// by Close, which unmaps it.
	mu   sync.RWMutex
	mem  []byte // the whole mapping, header included; nil once closed
	data []T

	// fmu guards the segment file of a named array: it holds this
	// process's shared lock on the segment (see Stale). An opener keeps it
	// until Close, the creator until Unlink (or its death): unmapping does
	// not end ownership.
	fmu      sync.Mutex
	file     *os.File
	unlinked bool
}

func newArray[T Elem](name string, shape []int, mem []byte, owner bool) *Array[T] {
	var zero T
	n := (len(mem) - headerSize) / int(unsafe.Sizeof(zero))
	return &Array[T]{
		name: name, shape: slices.Clone(shape), owner: owner, mem: mem,
		data: unsafe.Slice((*T)(unsafe.Pointer(&mem[headerSize])), n),
	}
}

// Name returns the segment name: what Open takes in another process. For an
// anonymous array it is the debugging name given at creation.
func (a *Array[T]) Name() string { return a.name }

// Spec returns what another process needs to open the array by name.
func (a *Array[T]) Spec() Spec {
	return Spec{Name: a.name, DType: DType[T](), Shape: a.Shape()}
}

// Shape returns a copy of the array's shape.
func (a *Array[T]) Shape() []int { return slices.Clone(a.shape) }

// Len returns the number of elements: the product of the shape.
func (a *Array[T]) Len() int {
	n := 1
	for _, d := range a.shape {
		n *= d
	}
	return n
}

// Owner reports whether this process created the segment (and so unlinks
// it).
func (a *Array[T]) Owner() bool { return a.owner }

// File returns the memfd of an anonymous array, to hand to a backend in
// mp.Options.Files; nil for a named array. It is closed by Close.
func (a *Array[T]) File() *os.File { return a.anon }

// Data returns the elements in row-major order: a slice over the shared
// mapping, for reading and writing them directly; nil after Close.
//
// Its contract: the slice is valid until Close, and nothing guards it.
// Do not use it after Close, nor while another goroutine may call Close:
// the memory is unmapped under it, and the access is a fatal fault (or,
// once the addresses are reused, silently touches other memory). A fault
// on the mapping (the segment shrunk by another process) is fatal too.
// Fill, Sum, CopyFrom and Use hold the mapping while they run and turn a
// fault into an error: prefer them, or Use, where either can happen.
func (a *Array[T]) Data() []T {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.data
}

// Index returns the position in Data of the element at idx (one index per
// dimension, row-major). Like indexing a slice, it panics if idx has the
// wrong length or is out of range.
func (a *Array[T]) Index(idx ...int) int {
	if len(idx) != len(a.shape) {
		panic(fmt.Sprintf("shm: index %v into an array of shape %v", idx, a.shape))
	}
	pos := 0
	for i, x := range idx {
		if x < 0 || x >= a.shape[i] {
			panic(fmt.Sprintf("shm: index %v out of range for shape %v", idx, a.shape))
		}
		pos = pos*a.shape[i] + x
	}
	return pos
}

// Close unmaps the array from this process, once the operations running on
// it have returned; later ones fail with ErrClosed. An opener also drops
// its hold on the segment. Close does not remove the segment: its creator
// does that with Unlink, and keeps it until then. A second Close returns
// ErrClosed. Do not call Close from inside Use's function: it would wait
// for itself.
func (a *Array[T]) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mem == nil {
		return fmt.Errorf("shm: close %q: %w", a.name, ErrClosed)
	}
	err := unix.Munmap(a.mem)
	a.mem, a.data = nil, nil
	if a.anon != nil {
		a.anon.Close()
	}
	if !a.owner {
		a.dropFile()
	}
	if err != nil {
		return fmt.Errorf("shm: close %q: %w", a.name, err)
	}
	return nil
}

// dropFile closes the segment file, releasing this process's lock on it.
func (a *Array[T]) dropFile() {
	a.fmu.Lock()
	defer a.fmu.Unlock()
	if a.file != nil {
		a.file.Close()
		a.file = nil
	}
}

// Unlink removes the segment's name, so that nothing is left in /dev/shm,
// and gives up the creator's hold on it; mappings that exist stay valid
// until closed. Only the creator may unlink (ErrNotOwner otherwise), and
// only once (ErrUnlinked). If the name no longer refers to this segment
// (somebody removed it by hand, and perhaps made another), Unlink leaves it
// alone and returns ErrUnlinked. Close then Unlink, or Unlink then Close:
// both orders are fine. Unlinking an anonymous array does nothing: it has
// no name.
func (a *Array[T]) Unlink() error {
	switch {
	case !a.owner:
		return fmt.Errorf("shm: unlink %q: %w", a.name, ErrNotOwner)
	case a.anon != nil:
		return nil
	}
	a.fmu.Lock()
	defer a.fmu.Unlock()
	if a.unlinked {
		return fmt.Errorf("shm: unlink %q: %w", a.name, ErrUnlinked)
	}
	a.unlinked = true
	defer func() {
		a.file.Close()
		a.file = nil
	}()
	path := filepath.Join(Dir, a.name)
	same, err := sameFD(int(a.file.Fd()), path)
	if errors.Is(err, unix.ENOENT) || err == nil && !same {
		return fmt.Errorf("shm: unlink %q: removed by somebody else: %w", a.name, ErrUnlinked)
	}
	if err == nil {
		err = unix.Unlink(path)
	}
	if err != nil {
		return fmt.Errorf("shm: unlink %q: %w", a.name, err)
	}
	return nil
}
