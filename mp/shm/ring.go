package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/mpgo/mp/internal/initcheck"
	"golang.org/x/sys/unix"
)

// Ring is a single-producer single-consumer ring of fixed-size slots in
// shared memory, for streaming frames from one process to another at
// memory speed. One process creates it (CreateRing, CreateRingAnon) and
// hands its Files to the other, which opens it (OpenRing); each process then
// takes one side, Producer or Consumer. Both sides may also live in one
// process.
//
// The producer reserves a slot, writes its frame in place and commits it;
// the consumer gets a read-only view of the next committed frame and
// releases it: nothing is copied. Write and Read copy, for convenience.
// A side waits without using CPU (after a short bounded poll) and is woken
// by the other through an eventfd, only when it sleeps. When the other
// process dies, a waiting side gets an error wrapping ErrPeerDied at once.
//
// The Ring's own methods are safe for concurrent use. Each side belongs to
// one goroutine at a time, but for Close, which may interrupt it from
// another. Close the Ring only once no goroutine uses its sides any more:
// it unmaps the memory under the views.
type Ring struct {
	name string
	layout
	mem   []byte
	words *words
	heap  bool // mem is Go memory (tests): never unmapped
	// guarded: the memory may shrink under the mapping (a named segment),
	// so accesses to it are guarded (ring_guard.go).
	guarded bool

	// fds: the segment (-1 when the ring is in Go memory), the data
	// eventfd (producer to consumer), the space eventfd (consumer to
	// producer). Owned by the ring, closed by Close.
	segFD, dataFD, spaceFD int
	seg                    *os.File // a named segment's file, which holds its lock (see Stale)
	owner                  bool     // created a named segment: unlinks it

	mu     sync.Mutex
	files  []*os.File
	prod   *Producer
	cons   *Consumer
	closed bool
}

// CreateRing makes a ring in a named segment (see Create for the name, the
// stale rule and the errors): a program that was not started by this one, a
// Python script or a debugger, can map it by its name. Its memory is
// allocated and mapped now, page tables included. The creator unlinks the
// segment at Close. A bad cfg is ErrBadConfig.
func CreateRing(name string, cfg RingConfig) (*Ring, error) {
	r, err := createRing(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("shm: create ring %q: %w", name, err)
	}
	return r, nil
}

func createRing(name string, cfg RingConfig) (*Ring, error) {
	// As Create: a backend whose main forgot mp.Init is stopped before it
	// makes a name that would outlive it.
	initcheck.Require()
	l, err := newLayout(cfg)
	if err != nil {
		return nil, err
	}
	seg, err := segmentName(name)
	if err != nil {
		return nil, err
	}
	f, err := createSegment(seg, l.size, func(fd int) error { return pwriteAll(fd, l.encode()) })
	if err != nil {
		return nil, err
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err == nil {
		var r *Ring
		if r, err = newRing(seg, l, fd); err == nil {
			r.seg, r.owner, r.guarded = f, true, true
			return r, nil
		}
	}
	unix.Unlink(filepath.Join(Dir, seg))
	f.Close()
	return nil, err
}

// CreateRingAnon makes a ring in anonymous shared memory (a sealed memfd,
// as CreateAnon does): nothing in /dev/shm, nothing to leave behind. name
// is for debugging only. A bad cfg is ErrBadConfig.
func CreateRingAnon(name string, cfg RingConfig) (*Ring, error) {
	r, err := createRingAnon(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("shm: create anonymous ring %q: %w", name, err)
	}
	return r, nil
}

func createRingAnon(name string, cfg RingConfig) (*Ring, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	l, err := newLayout(cfg)
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate(DefaultPrefix+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, err
	}
	err = allocate(fd, l.size)
	if err == nil {
		err = pwriteAll(fd, l.encode())
	}
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
	}
	var r *Ring
	if err == nil {
		r, err = newRing(name, l, fd)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return r, nil
}

// newRing maps the segment open on fd (which it takes) and makes the
// ring's eventfds.
func newRing(name string, l layout, fd int) (*Ring, error) {
	mem, err := unix.Mmap(fd, 0, l.size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, spaceError(err, l.size)
	}
	r := &Ring{name: name, layout: l, mem: mem, words: newWords(mem, l), segFD: fd, dataFD: -1, spaceFD: -1}
	if r.dataFD, err = newEventFD(); err == nil {
		r.spaceFD, err = newEventFD()
	}
	if err != nil {
		r.release()
		return nil, err
	}
	return r, nil
}

func newEventFD() (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return -1, fmt.Errorf("eventfd: %w", err)
	}
	return fd, nil
}

// newHeapRing makes a ring in Go memory, for tests under the race detector
// (which cannot see memory outside the Go heap).
func newHeapRing(cfg RingConfig) (*Ring, error) {
	l, err := newLayout(cfg)
	if err != nil {
		return nil, err
	}
	buf := make([]uint64, l.size/8)
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), l.size)
	copy(mem, l.encode())
	r := &Ring{name: "heap", layout: l, mem: mem, words: newWords(mem, l), heap: true, segFD: -1, dataFD: -1, spaceFD: -1}
	if r.dataFD, err = newEventFD(); err == nil {
		r.spaceFD, err = newEventFD()
	}
	if err != nil {
		r.release()
		return nil, err
	}
	return r, nil
}

// OpenRing opens the ring whose Files another process handed over (in
// mp.Options.Files, say: the backend's File(0), File(1), File(2)). The
// header is checked before anything else is touched: a segment that is
// not a ring of this layout is ErrNotRing. The files stay the caller's;
// the ring keeps duplicates.
func OpenRing(files ...*os.File) (*Ring, error) {
	r, err := openRing(files)
	if err != nil {
		name := "?"
		if len(files) > 0 && files[0] != nil {
			name = files[0].Name()
		}
		return nil, fmt.Errorf("shm: open ring %q: %w", name, err)
	}
	return r, nil
}

func openRing(files []*os.File) (*Ring, error) {
	if len(files) != 3 || files[0] == nil || files[1] == nil || files[2] == nil {
		return nil, fmt.Errorf("%w: want the 3 files of Ring.Files, got %d", os.ErrInvalid, len(files))
	}
	var fds [3]int
	for i, f := range files {
		fd, err := dupFile(f)
		if err != nil {
			closeFDs(fds[:i])
			return nil, err
		}
		fds[i] = fd
	}
	l, err := readLayout(fds[0])
	var mem []byte
	if err == nil {
		mem, err = unix.Mmap(fds[0], 0, l.size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	}
	if err == nil {
		err = unix.SetNonblock(fds[1], true)
	}
	if err == nil {
		err = unix.SetNonblock(fds[2], true)
	}
	if err != nil {
		if mem != nil {
			unix.Munmap(mem)
		}
		closeFDs(fds[:])
		return nil, err
	}
	return &Ring{name: files[0].Name(), layout: l, mem: mem, words: newWords(mem, l),
		segFD: fds[0], dataFD: fds[1], spaceFD: fds[2], guarded: mayShrink(fds[0])}, nil
}

// dupFile duplicates f's descriptor without switching it to blocking mode
// (which File.Fd would do, for every process sharing it).
func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	cerr := rc.Control(func(u uintptr) { fd, err = unix.FcntlInt(u, unix.F_DUPFD_CLOEXEC, 0) })
	if cerr != nil {
		return -1, cerr
	}
	return fd, err
}

// readLayout reads and checks the header of the segment open on fd.
func readLayout(fd int) (layout, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return layout{}, err
	}
	h := make([]byte, headerConstEnd)
	n, err := unix.Pread(fd, h, 0)
	if err != nil {
		return layout{}, fmt.Errorf("read the header: %w", err)
	}
	return decodeLayout(h[:n], st.Size)
}

func pwriteAll(fd int, b []byte) error {
	n, err := unix.Pwrite(fd, b, 0)
	if err == nil && n < len(b) {
		err = fmt.Errorf("short write of the header: %d bytes of %d", n, len(b))
	}
	return err
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

var unixGetpid = unix.Getpid

// Name returns the segment's name (what a program maps it by, in Dir) for
// a named ring, the debugging name for an anonymous one, and the name of
// the file it was opened from for an opened one.
func (r *Ring) Name() string { return r.name }

// Config returns the ring's slot size, slot count and policy.
func (r *Ring) Config() RingConfig { return r.RingConfig }

// Drops returns how many frames the full-ring policy has dropped so far (0
// when a fault on the mapping hides the count: see ErrFault).
func (r *Ring) Drops() uint64 { return r.drops() }

// Files returns the files another process needs to open the ring: the
// segment, the data eventfd and the space eventfd, in that order, for
// mp.Options.Files and OpenRing. They belong to the ring (Close closes
// them); a ring in Go memory has none. Files fails with ErrRingClosed
// after Close.
func (r *Ring) Files() ([]*os.File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("shm: ring %q files: %w", r.name, ErrRingClosed)
	}
	if r.files == nil && r.segFD >= 0 {
		for i, fd := range []int{r.segFD, r.dataFD, r.spaceFD} {
			dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				for _, f := range r.files {
					f.Close()
				}
				r.files = nil
				return nil, fmt.Errorf("shm: ring %q files: %w", r.name, err)
			}
			r.files = append(r.files, os.NewFile(uintptr(dup), []string{r.name, "ring-data", "ring-space"}[i]))
		}
	}
	return r.files, nil
}

// Close closes the sides taken in this process (see Producer.Close and
// Consumer.Close) and gives them up, unmaps the ring, closes its files and, in the creator of
// a named ring, unlinks the segment. A second Close is ErrRingClosed.
func (r *Ring) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("shm: close ring %q: %w", r.name, ErrRingClosed)
	}
	r.closed = true
	// No goroutine uses the sides any more: they are given up even if a
	// slot or a frame is held.
	if r.prod != nil {
		r.prod.Close()
		r.prod.giveUp()
	}
	if r.cons != nil {
		r.cons.Close()
		r.cons.giveUp()
	}
	var err error
	if r.owner {
		path := filepath.Join(Dir, r.name)
		if same, _ := sameFD(r.segFD, path); same {
			err = unix.Unlink(path)
		}
	}
	r.release()
	if err != nil {
		return fmt.Errorf("shm: close ring %q: unlink: %w", r.name, err)
	}
	return nil
}

// release unmaps and closes everything the ring holds.
func (r *Ring) release() {
	if !r.heap && r.mem != nil {
		unix.Munmap(r.mem)
	}
	r.mem = nil
	for _, f := range r.files {
		f.Close()
	}
	if r.seg != nil {
		r.seg.Close()
	}
	var sides []*side
	if r.prod != nil {
		sides = append(sides, &r.prod.side)
	}
	if r.cons != nil {
		sides = append(sides, &r.cons.side)
	}
	for _, s := range sides {
		s.retire()
	}
	closeFDs([]int{r.segFD, r.dataFD, r.spaceFD})
}

// initSide sets up s as a side of r; the caller holds r.mu.
func (r *Ring) initSide(s *side, what string, sleepFD, wakeFD int) error {
	if r.closed {
		return fmt.Errorf("shm: ring %q %s: %w", r.name, what, ErrRingClosed)
	}
	cancel, err := newEventFD()
	if err != nil {
		return fmt.Errorf("shm: ring %q %s: %w", r.name, what, err)
	}
	s.r, s.w, s.sleepFD, s.wakeFD, s.cancelFD, s.spin, s.what = r, r.words, sleepFD, wakeFD, cancel, newPoller(), what
	s.guarded = r.guarded
	s.fenceless = publishFenceless()
	return nil
}

var errTaken = errors.New("taken in this process already")
