package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mpgo/mp/internal/initcheck"
	"golang.org/x/sys/unix"
)

// Create makes a named segment for an array of T with the given shape,
// allocates its memory now (so that a full /dev/shm is this error, not a
// crash on first touch later), maps it and returns it zeroed. The caller
// owns the segment: it holds a shared lock on it until Unlink (or until it
// dies), which is how everybody else knows it is alive. Close unmaps,
// Unlink removes the name.
//
// The segment appears under its name complete and already locked: it is
// made nameless (O_TMPFILE), sized, stamped and locked, then linked to its
// name, which fails if the name is taken. A taken name is checked (see
// Stale): a stale segment, left by a creator that died, is removed with a
// warning on slog's default logger, and creation goes on; a live one is
// ErrExists, which says who keeps it.
//
// Create fails with ErrBadName for a bad name (see SegmentName),
// ErrBadPrefix for a bad MP_SHM_PREFIX, ErrBadShape for a bad shape,
// ErrExists if a live segment has the name, and ErrNoSpace when /dev/shm,
// or memory (MemAvailable plus SwapFree in /proc/meminfo), cannot hold it;
// it leaves nothing behind when it fails.
func Create[T Elem](name string, shape ...int) (*Array[T], error) {
	a, seg, err := create[T](name, shape)
	if err != nil {
		return nil, fmt.Errorf("shm: create %q: %w", seg, err)
	}
	return a, nil
}

func create[T Elem](name string, shape []int) (*Array[T], string, error) {
	// In a backend whose main forgot mp.Init, main runs as if it were the
	// frontend: stop it before it makes a name that would outlive it.
	initcheck.Require()
	seg, err := segmentName(name)
	if err != nil {
		return nil, name, err
	}
	size, err := arraySize[T](shape)
	if err != nil {
		return nil, seg, err
	}
	f, err := createSegment(seg, size, func(fd int) error { return writeHeader[T](fd, shape) })
	if err != nil {
		return nil, seg, err
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Unlink(f.Name())
		f.Close()
		return nil, seg, spaceError(err, size)
	}
	a := newArray[T](seg, shape, mem, true)
	a.file = f
	return a, seg, nil
}

// createSegment makes the segment seg of size bytes, stamped by header, and
// returns it open and locked (shared) under its final name.
func createSegment(seg string, size int, header func(fd int) error) (*os.File, error) {
	tmp, err := unix.Open(Dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("make a nameless file in %s: %w", Dir, err)
	}
	defer unix.Close(tmp)
	if err := allocate(tmp, size); err != nil {
		return nil, err
	}
	if err := header(tmp); err != nil {
		return nil, err
	}
	if err := unix.Flock(tmp, unix.LOCK_SH); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}

	path := filepath.Join(Dir, seg)
	if err := link(tmp, path, seg); err != nil {
		return nil, err
	}
	f, err := reopen(tmp, path)
	if err != nil {
		if same, _ := sameFD(tmp, path); same {
			unix.Unlink(path)
		}
		return nil, fmt.Errorf("open the new segment: %w", err)
	}
	return f, nil
}

// link gives the nameless file open on tmp its name, path, replacing a stale
// segment of that name (seg) once.
func link(tmp int, path, seg string) error {
	self := "/proc/self/fd/" + strconv.Itoa(tmp)
	for retried := false; ; retried = true {
		err := unix.Linkat(unix.AT_FDCWD, self, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, unix.EEXIST):
			return fmt.Errorf("name the segment: %w", err)
		case retried:
			return fmt.Errorf("%w: taken again just after a stale segment of that name was removed", ErrExists)
		}
		removed, why, err := removeStale(seg)
		if err != nil {
			return fmt.Errorf("%w, and checking whether it is stale failed: %w", ErrExists, err)
		}
		if !removed {
			return fmt.Errorf("%w: %s", ErrExists, why)
		}
	}
}

// reopen opens the segment by its name, checks that it is the file open on
// tmp, and locks it. The mapping is made through this descriptor, not the
// nameless one, so that /proc/<pid>/maps shows the name (tools look for it
// there); its lock is taken before the nameless descriptor, and its lock, go.
func reopen(tmp int, path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	var have, now unix.Stat_t
	err = unix.Flock(fd, unix.LOCK_SH)
	if err == nil {
		err = unix.Fstat(tmp, &have)
	}
	if err == nil {
		err = unix.Fstat(fd, &now)
	}
	if err == nil && (have.Dev != now.Dev || have.Ino != now.Ino) {
		err = errors.New("the name was replaced by another file")
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// sameFD reports whether path names the file open on fd.
func sameFD(fd int, path string) (bool, error) {
	var have, now unix.Stat_t
	if err := unix.Fstat(fd, &have); err != nil {
		return false, err
	}
	if err := unix.Lstat(path, &now); err != nil {
		return false, err
	}
	return have.Dev == now.Dev && have.Ino == now.Ino, nil
}

// CreateAnon makes an array in anonymous shared memory (a memfd): nothing
// in /dev/shm, so nothing to leak. The memory disappears with the last
// process holding it, however it ends. Hand File to a backend in
// mp.Options.Files; the backend maps it with OpenFile. name is only for
// debugging (/proc/<pid>/fd shows it).
//
// The memfd is sealed once sized: nobody, this process included, can shrink
// or grow it (ftruncate fails with EPERM), so no mapping of it can fault.
// Errors are those of Create, but for ErrExists.
func CreateAnon[T Elem](name string, shape ...int) (*Array[T], error) {
	a, err := createAnon[T](name, shape)
	if err != nil {
		return nil, fmt.Errorf("shm: create anonymous %q: %w", name, err)
	}
	return a, nil
}

func createAnon[T Elem](name string, shape []int) (*Array[T], error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	size, err := arraySize[T](shape)
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate(DefaultPrefix+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), DefaultPrefix+name)
	err = allocate(fd, size)
	if err == nil {
		err = writeHeader[T](fd, shape)
	}
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
	}
	var mem []byte
	if err == nil {
		mem, err = unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	}
	if err != nil {
		f.Close()
		return nil, spaceError(err, size)
	}
	a := newArray[T](name, shape, mem, true)
	a.anon = f
	return a, nil
}

// allocate sizes the file open on fd and reserves its pages now, if memory
// can take them (memoryFor).
func allocate(fd, size int) error {
	if err := memoryFor(size); err != nil {
		return err
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return spaceError(err, size)
	}
	for {
		err := unix.Fallocate(fd, 0, 0, int64(size))
		if err != unix.EINTR {
			return spaceError(err, size)
		}
	}
}

// spaceError says how much was asked and how much is free when err is about
// space.
func spaceError(err error, size int) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) || errors.Is(err, unix.ENOMEM) {
		var st unix.Statfs_t
		free := "unknown"
		if unix.Statfs(Dir, &st) == nil {
			free = strconv.FormatUint(st.Bavail*uint64(st.Bsize), 10)
		}
		return fmt.Errorf("%w: %d bytes asked, %s free in %s: %w", ErrNoSpace, size, free, Dir, err)
	}
	return err
}
