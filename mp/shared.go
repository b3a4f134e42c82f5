package mp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Elem is the set of element types a SharedArray can hold: plain numbers,
// never Go pointers, which mean nothing in another process.
type Elem interface {
	float32 | float64 | int32 | int64 | uint8
}

// Errors about shared arrays; each returned error wraps one of these (or
// ErrBadName) and says which segment and what was wrong.
var (
	ErrExists   = errors.New("mp: shared-memory segment already exists")
	ErrNotFound = errors.New("mp: shared-memory segment not found")
	ErrMismatch = errors.New("mp: shared-memory type or shape mismatch")
	ErrNoSpace  = errors.New("mp: not enough space for shared memory")
	ErrNotOwner = errors.New("mp: only the creator may unlink a shared-memory segment")
	ErrUnlinked = errors.New("mp: shared-memory segment already unlinked")
	ErrClosed   = errors.New("mp: shared array is closed")
	ErrBadShape = errors.New("mp: bad shared-array shape")
	ErrBadDType = errors.New("mp: unknown element type")
)

// A segment starts with a header page, then the elements, page-aligned:
//
//	offset 0   magic "mp-shm\x00\x01"
//	offset 8   element type code (uint32, see dtypes)
//	offset 12  number of dimensions (uint32, 1 to 8)
//	offset 16  creator's PID (uint64)
//	offset 24  dimensions (8 × uint64)
//
// Opening checks the element type and the shape against the header, so a
// mismatch is an error before any element is touched, even when the sizes
// agree (float32 and int32, say).
const (
	headerSize = 4096
	maxDims    = 8
	magic      = "mp-shm\x00\x01"
)

// dtypes names element types on the wire ("float64" …) and codes them in
// headers.
var dtypes = []string{1: "float32", 2: "float64", 3: "int32", 4: "int64", 5: "uint8"}

// DTypeOf returns the wire name of element type T: "float32", "float64",
// "int32", "int64" or "uint8".
func DTypeOf[T Elem]() string { return dtypes[dtypeCode[T]()] }

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

// ArraySpec describes a shared array so that another process can open it:
// the segment name, the element type's wire name and the shape. It is what
// travels in a message (shm2's "on demand" flow).
type ArraySpec struct {
	Name  string // segment name, as SharedArray.Name returns it
	DType string // "float32", "float64", "int32", "int64" or "uint8"
	Shape []int
}

// SharedArray is an N-dimensional array of T in shared memory, mapped into
// this process. The creator (the frontend, usually) owns the segment and
// alone unlinks it; other processes open it by name and only map and unmap.
// Data returns the elements as an ordinary slice, in row-major order.
//
// The methods are safe for concurrent use, but the elements are not
// synchronized: hand ownership of the data from one process to the other
// explicitly (a message, an event), as the chapters do.
type SharedArray[T Elem] struct {
	name  string
	shape []int
	owner bool
	file  *os.File // memfd of an anonymous array, nil for a named one

	mu       sync.Mutex
	mem      []byte // the whole mapping, header included
	data     []T
	unlinked bool
}

// CreateArray creates a named segment for an array of the given shape,
// allocates its memory now (so that a full /dev/shm is this error, not a
// crash on first touch later), maps it and returns it zeroed. The caller owns
// the segment: Close unmaps, Unlink removes the name.
//
// CreateArray fails with ErrBadName for a bad name (see SegmentName),
// ErrBadShape for a bad shape, ErrExists if the segment exists, and
// ErrNoSpace when /dev/shm cannot hold it; it leaves nothing behind when it
// fails.
func CreateArray[T Elem](name string, shape ...int) (*SharedArray[T], error) {
	seg, err := SegmentName(name)
	if err != nil {
		return nil, fmt.Errorf("mp: create shared array: %w", err)
	}
	wrap := func(err error) error { return fmt.Errorf("mp: create shared array %q: %w", seg, err) }
	size, err := arraySize[T](shape)
	if err != nil {
		return nil, wrap(err)
	}
	path := filepath.Join(shmDir, seg)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if errors.Is(err, unix.EEXIST) {
		return nil, wrap(ErrExists)
	}
	if err != nil {
		return nil, wrap(err)
	}
	defer unix.Close(fd)
	a, err := createMapped[T](fd, seg, shape, size)
	if err != nil {
		unix.Unlink(path)
		return nil, wrap(err)
	}
	return a, nil
}

// CreateAnonArray creates an array in anonymous shared memory (a memfd):
// nothing in /dev/shm, so nothing to leak. The memory disappears with the
// last process holding it. Hand File to a backend in Options.Files; the
// backend maps it with OpenArrayFile. name is only for debugging
// (/proc/<pid>/fd shows it). Errors are those of CreateArray.
func CreateAnonArray[T Elem](name string, shape ...int) (*SharedArray[T], error) {
	wrap := func(err error) error { return fmt.Errorf("mp: create anonymous shared array %q: %w", name, err) }
	if err := checkName(name); err != nil {
		return nil, wrap(err)
	}
	size, err := arraySize[T](shape)
	if err != nil {
		return nil, wrap(err)
	}
	fd, err := unix.MemfdCreate("mp-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, wrap(err)
	}
	a, err := createMapped[T](fd, name, shape, size)
	if err != nil {
		unix.Close(fd)
		return nil, wrap(err)
	}
	a.file = os.NewFile(uintptr(fd), "mp-"+name)
	return a, nil
}

// createMapped sizes, allocates, maps and stamps the segment open on fd.
func createMapped[T Elem](fd int, name string, shape []int, size int) (*SharedArray[T], error) {
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return nil, spaceError(err, size)
	}
	if err := fallocate(fd, size); err != nil {
		return nil, spaceError(err, size)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, spaceError(err, size)
	}
	writeHeader[T](mem, shape)
	return newArray[T](name, shape, mem, true), nil
}

// fallocate reserves the segment's pages now.
func fallocate(fd, size int) error {
	for {
		err := unix.Fallocate(fd, 0, 0, int64(size))
		if err != unix.EINTR {
			return err
		}
	}
}

func spaceError(err error, size int) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) || errors.Is(err, unix.ENOMEM) {
		var st unix.Statfs_t
		free := "unknown"
		if unix.Statfs(shmDir, &st) == nil {
			free = fmt.Sprintf("%d", st.Bavail*uint64(st.Bsize))
		}
		return fmt.Errorf("%w: %d bytes asked, %s free in %s: %w", ErrNoSpace, size, free, shmDir, err)
	}
	return err
}

// OpenArray maps an existing named segment, as a backend does with the name
// its frontend sent. The element type and shape must be the ones it was
// created with.
//
// OpenArray fails with ErrBadName if segment is not a name of ours,
// ErrNotFound if it does not exist (or was unlinked), and ErrMismatch if its
// type or shape differ, before any element is touched.
func OpenArray[T Elem](segment string, shape ...int) (*SharedArray[T], error) {
	wrap := func(err error) error { return fmt.Errorf("mp: open shared array %q: %w", segment, err) }
	if err := checkSegment(segment); err != nil {
		return nil, wrap(err)
	}
	fd, err := unix.Open(filepath.Join(shmDir, segment), unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, wrap(ErrNotFound)
	}
	if err != nil {
		return nil, wrap(err)
	}
	defer unix.Close(fd)
	a, err := openMapped[T](fd, segment, shape)
	if err != nil {
		return nil, wrap(err)
	}
	return a, nil
}

// OpenArrayFile maps an anonymous array received as a file (Backend.File),
// with the checks of OpenArray. The file stays the caller's to close.
func OpenArrayFile[T Elem](f *os.File, shape ...int) (*SharedArray[T], error) {
	if f == nil {
		return nil, fmt.Errorf("mp: open shared array file: no file given: %w", os.ErrInvalid)
	}
	wrap := func(err error) error { return fmt.Errorf("mp: open shared array file %q: %w", f.Name(), err) }
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, wrap(err)
	}
	var a *SharedArray[T]
	cerr := rc.Control(func(fd uintptr) { a, err = openMapped[T](int(fd), f.Name(), shape) })
	if cerr != nil {
		return nil, wrap(cerr)
	}
	if err != nil {
		return nil, wrap(err)
	}
	return a, nil
}

func openMapped[T Elem](fd int, name string, shape []int) (*SharedArray[T], error) {
	want, err := arraySize[T](shape)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Size < headerSize {
		return nil, fmt.Errorf("%w: %d bytes is too small to be a shared array", ErrMismatch, st.Size)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	if err := checkHeader[T](mem, shape, want); err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	return newArray[T](name, shape, mem, false), nil
}

// arraySize returns the segment size for shape, header included.
func arraySize[T Elem](shape []int) (int, error) {
	if len(shape) == 0 || len(shape) > maxDims {
		return 0, fmt.Errorf("%w: %v has %d dimensions, want 1 to %d", ErrBadShape, shape, len(shape), maxDims)
	}
	var zero T
	n := int(unsafe.Sizeof(zero))
	for _, d := range shape {
		if d < 1 {
			return 0, fmt.Errorf("%w: %v has a dimension below 1", ErrBadShape, shape)
		}
		if n > (1<<62)/d {
			return 0, fmt.Errorf("%w: %v is too large", ErrBadShape, shape)
		}
		n *= d
	}
	return headerSize + n, nil
}

func writeHeader[T Elem](mem []byte, shape []int) {
	copy(mem, magic)
	binary.LittleEndian.PutUint32(mem[8:], dtypeCode[T]())
	binary.LittleEndian.PutUint32(mem[12:], uint32(len(shape)))
	binary.LittleEndian.PutUint64(mem[16:], uint64(os.Getpid()))
	for i, d := range shape {
		binary.LittleEndian.PutUint64(mem[24+8*i:], uint64(d))
	}
}

// checkHeader compares the header with what the opener expects.
func checkHeader[T Elem](mem []byte, shape []int, size int) error {
	if string(mem[:8]) != magic {
		return fmt.Errorf("%w: no shared-array header", ErrMismatch)
	}
	code := binary.LittleEndian.Uint32(mem[8:])
	ndim := binary.LittleEndian.Uint32(mem[12:])
	if code == 0 || int(code) >= len(dtypes) || ndim == 0 || ndim > maxDims {
		return fmt.Errorf("%w: corrupt shared-array header", ErrMismatch)
	}
	have := make([]int, ndim)
	for i := range have {
		have[i] = int(binary.LittleEndian.Uint64(mem[24+8*i:]))
	}
	if code != dtypeCode[T]() || !slices.Equal(have, shape) || len(mem) != size {
		return fmt.Errorf("%w: the segment holds %s %v (%d bytes), asked for %s %v (%d bytes)",
			ErrMismatch, dtypes[code], have, len(mem), DTypeOf[T](), shape, size)
	}
	return nil
}

func newArray[T Elem](name string, shape []int, mem []byte, owner bool) *SharedArray[T] {
	var zero T
	n := (len(mem) - headerSize) / int(unsafe.Sizeof(zero))
	return &SharedArray[T]{
		name: name, shape: slices.Clone(shape), owner: owner, mem: mem,
		data: unsafe.Slice((*T)(unsafe.Pointer(&mem[headerSize])), n),
	}
}

// Name returns the segment name: what OpenArray takes in another process.
// For an anonymous array it is the debugging name given at creation.
func (a *SharedArray[T]) Name() string { return a.name }

// Spec returns what another process needs to open the array by name.
func (a *SharedArray[T]) Spec() ArraySpec {
	return ArraySpec{Name: a.name, DType: DTypeOf[T](), Shape: a.Shape()}
}

// Shape returns a copy of the array's shape.
func (a *SharedArray[T]) Shape() []int { return slices.Clone(a.shape) }

// Len returns the number of elements.
func (a *SharedArray[T]) Len() int { return len(a.data) }

// Owner reports whether this process created the segment (and so unlinks it).
func (a *SharedArray[T]) Owner() bool { return a.owner }

// File returns the memfd of an anonymous array, to hand to a backend in
// Options.Files; nil for a named array.
func (a *SharedArray[T]) File() *os.File { return a.file }

// Data returns the elements in row-major order, a slice over the shared
// mapping; nil after Close. Do not keep it past Close: the memory is gone.
func (a *SharedArray[T]) Data() []T {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.data
}

// Index returns the position in Data of the element at idx (one index per
// dimension, row-major). Like indexing a slice, it panics if idx has the
// wrong length or is out of range.
func (a *SharedArray[T]) Index(idx ...int) int {
	if len(idx) != len(a.shape) {
		panic(fmt.Sprintf("mp: index %v into an array of shape %v", idx, a.shape))
	}
	pos := 0
	for i, x := range idx {
		if x < 0 || x >= a.shape[i] {
			panic(fmt.Sprintf("mp: index %v out of range for shape %v", idx, a.shape))
		}
		pos = pos*a.shape[i] + x
	}
	return pos
}

// Close unmaps the array from this process. It does not remove the segment:
// the owner does that with Unlink. A second Close returns ErrClosed.
func (a *SharedArray[T]) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mem == nil {
		return fmt.Errorf("mp: close shared array %q: %w", a.name, ErrClosed)
	}
	err := unix.Munmap(a.mem)
	a.mem, a.data = nil, nil
	if a.file != nil {
		a.file.Close()
	}
	if err != nil {
		return fmt.Errorf("mp: close shared array %q: %w", a.name, err)
	}
	return nil
}

// Unlink removes the segment's name, so that nothing is left in /dev/shm;
// mappings that exist stay valid until closed. Only the owner may unlink
// (ErrNotOwner otherwise), and only once (ErrUnlinked). Close then Unlink,
// or Unlink then Close: both orders are fine. Unlinking an anonymous array
// does nothing: it has no name.
func (a *SharedArray[T]) Unlink() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !a.owner:
		return fmt.Errorf("mp: unlink shared array %q: %w", a.name, ErrNotOwner)
	case a.unlinked:
		return fmt.Errorf("mp: unlink shared array %q: %w", a.name, ErrUnlinked)
	case a.file != nil:
		return nil
	}
	a.unlinked = true
	err := unix.Unlink(filepath.Join(shmDir, a.name))
	if errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("mp: unlink shared array %q: removed by somebody else: %w", a.name, ErrUnlinked)
	}
	if err != nil {
		return fmt.Errorf("mp: unlink shared array %q: %w", a.name, err)
	}
	return nil
}

// Array is a shared array whose element type is known only at run time
// (for example from an ArraySpec in a message). Its dynamic type is
// *SharedArray[T]; a type switch gets the typed array back.
type Array interface {
	Name() string
	Spec() ArraySpec
	Shape() []int
	Len() int
	Owner() bool
	Close() error
	Unlink() error
}

// OpenSpec opens the array spec describes, with the element type it names.
// An unknown type is an error wrapping ErrBadDType; the rest are OpenArray's.
func OpenSpec(spec ArraySpec) (Array, error) {
	switch spec.DType {
	case "float32":
		return asArray(OpenArray[float32](spec.Name, spec.Shape...))
	case "float64":
		return asArray(OpenArray[float64](spec.Name, spec.Shape...))
	case "int32":
		return asArray(OpenArray[int32](spec.Name, spec.Shape...))
	case "int64":
		return asArray(OpenArray[int64](spec.Name, spec.Shape...))
	case "uint8":
		return asArray(OpenArray[uint8](spec.Name, spec.Shape...))
	}
	return nil, fmt.Errorf("mp: open shared array %q: %w %q (want float32, float64, int32, int64 or uint8)", spec.Name, ErrBadDType, spec.DType)
}

// CreateSpec creates a named array whose element type is given by its wire
// name. An unknown type is an error wrapping ErrBadDType; the rest are
// CreateArray's.
func CreateSpec(name, dtype string, shape ...int) (Array, error) {
	switch dtype {
	case "float32":
		return asArray(CreateArray[float32](name, shape...))
	case "float64":
		return asArray(CreateArray[float64](name, shape...))
	case "int32":
		return asArray(CreateArray[int32](name, shape...))
	case "int64":
		return asArray(CreateArray[int64](name, shape...))
	case "uint8":
		return asArray(CreateArray[uint8](name, shape...))
	}
	return nil, fmt.Errorf("mp: create shared array %q: %w %q (want float32, float64, int32, int64 or uint8)", name, ErrBadDType, dtype)
}

// asArray converts a typed result to the Array interface without the
// typed-nil trap: on error the interface itself is nil, so callers can test
// arr == nil as well as err != nil.
func asArray[T Elem](a *SharedArray[T], err error) (Array, error) {
	if err != nil {
		return nil, err
	}
	return a, nil
}

func errMismatchLen(name string, got, want int) error {
	return fmt.Errorf("mp: copy into shared array %q: %d elements for %d: %w", name, got, want, ErrMismatch)
}
