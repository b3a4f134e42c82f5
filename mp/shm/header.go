package shm

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A segment starts with a header page, then the elements, page-aligned:
//
//	offset 0   magic "mp-shm\x00\x01"
//	offset 8   element type code (uint32, see dtypes)
//	offset 12  number of dimensions (uint32, 1 to 8)
//	offset 16  creator's PID (uint64), a hint for humans like the name's
//	offset 24  dimensions (8 × uint64)
//
// The header is written with pwrite before the segment gets its name, and
// read with pread before it is mapped: opening checks the element type and
// the shape, so a mismatch is an error before any element is touched, even
// when the sizes agree (float32 and int32, say), and a segment too short
// for its header is an error, not a fault.
const (
	headerSize = 4096
	headerUsed = 24 + 8*maxDims
	maxDims    = 8
	magic      = "mp-shm\x00\x01"
)

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

// writeHeader stamps the header of an array of T with shape into fd.
func writeHeader[T Elem](fd int, shape []int) error {
	h := make([]byte, headerUsed)
	copy(h, magic)
	binary.LittleEndian.PutUint32(h[8:], dtypeCode[T]())
	binary.LittleEndian.PutUint32(h[12:], uint32(len(shape)))
	binary.LittleEndian.PutUint64(h[16:], uint64(os.Getpid()))
	for i, d := range shape {
		binary.LittleEndian.PutUint64(h[24+8*i:], uint64(d))
	}
	n, err := unix.Pwrite(fd, h, 0)
	if err == nil && n < len(h) {
		err = fmt.Errorf("short write of the header: %d bytes of %d", n, len(h))
	}
	return err
}

// checkHeader reads the header of the segment open on fd, of fileSize
// bytes, and compares it with what the opener expects: T, shape, size.
func checkHeader[T Elem](fd int, fileSize int64, shape []int, size int) error {
	if fileSize < headerSize {
		return fmt.Errorf("%w: %d bytes is too small to be a shared array", ErrMismatch, fileSize)
	}
	h := make([]byte, headerUsed)
	n, err := unix.Pread(fd, h, 0)
	if err != nil {
		return fmt.Errorf("read the header: %w", err)
	}
	if n < len(h) || string(h[:8]) != magic {
		return fmt.Errorf("%w: no shared-array header", ErrMismatch)
	}
	code := binary.LittleEndian.Uint32(h[8:])
	ndim := binary.LittleEndian.Uint32(h[12:])
	if code == 0 || int(code) >= len(dtypes) || ndim == 0 || ndim > maxDims {
		return fmt.Errorf("%w: corrupt shared-array header", ErrMismatch)
	}
	have := make([]int, ndim)
	for i := range have {
		have[i] = int(binary.LittleEndian.Uint64(h[24+8*i:]))
	}
	if code != dtypeCode[T]() || !slices.Equal(have, shape) || fileSize != int64(size) {
		return fmt.Errorf("%w: the segment holds %s %v (%d bytes), asked for %s %v (%d bytes)",
			ErrMismatch, dtypes[code], have, fileSize, DType[T](), shape, size)
	}
	return nil
}
