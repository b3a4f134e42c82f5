package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Open maps an existing named segment, as a backend does with the name its
// frontend sent. The element type and shape must be the ones it was
// created with. The process holds a shared lock on the segment until Close,
// so the segment is never judged stale while it is open here.
//
// Open fails with ErrBadPrefix for a bad MP_SHM_PREFIX, ErrBadName if
// segment is not a name Create could have made, ErrNotFound if it does not
// exist (or was unlinked, or is being removed as stale), and ErrMismatch if
// its type or shape differ, before any element is touched.
func Open[T Elem](segment string, shape ...int) (*Array[T], error) {
	a, err := open[T](segment, shape)
	if err != nil {
		return nil, fmt.Errorf("shm: open %q: %w", segment, err)
	}
	return a, nil
}

func open[T Elem](seg string, shape []int) (*Array[T], error) {
	if _, err := prefix(); err != nil {
		return nil, err
	}
	if _, _, _, err := splitSegment(seg); err != nil {
		return nil, err
	}
	want, err := arraySize[T](shape)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(Dir, seg)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	a, err := openLocked[T](f, seg, shape, want)
	if err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

// openLocked takes the opener's shared lock on f, checks that f still has
// its name, and maps it.
func openLocked[T Elem](f *os.File, seg string, shape []int, want int) (*Array[T], error) {
	fd := int(f.Fd())
	// Only a process removing the segment as stale holds the exclusive
	// lock, and it can hold it only if the creator is gone: a segment in
	// that state is as good as gone.
	err := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, fmt.Errorf("%w: it is being removed as stale (its creator is gone)", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	// Between the open and the lock, a remover may have unlinked it.
	if same, err := sameFD(fd, f.Name()); err != nil || !same {
		return nil, fmt.Errorf("%w: it was removed while opening", ErrNotFound)
	}
	a, err := mapFile[T](fd, seg, shape, want)
	if err != nil {
		return nil, err
	}
	a.file = f
	return a, nil
}

// OpenFile maps an anonymous array received as a file (mp.Backend.File),
// with the checks of Open. The file stays the caller's to close.
func OpenFile[T Elem](f *os.File, shape ...int) (*Array[T], error) {
	if f == nil {
		return nil, fmt.Errorf("shm: open file: no file given: %w", os.ErrInvalid)
	}
	wrap := func(err error) error { return fmt.Errorf("shm: open file %q: %w", f.Name(), err) }
	want, err := arraySize[T](shape)
	if err != nil {
		return nil, wrap(err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, wrap(err)
	}
	var a *Array[T]
	cerr := rc.Control(func(fd uintptr) { a, err = mapFile[T](int(fd), f.Name(), shape, want) })
	if cerr != nil {
		return nil, wrap(cerr)
	}
	if err != nil {
		return nil, wrap(err)
	}
	return a, nil
}

// mapFile checks the header of the segment open on fd and maps it.
func mapFile[T Elem](fd int, name string, shape []int, want int) (*Array[T], error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if err := checkHeader[T](fd, st.Size, shape, want); err != nil {
		return nil, err
	}
	mem, err := unix.Mmap(fd, 0, want, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return newArray[T](name, shape, mem, false), nil
}
