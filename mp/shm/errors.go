package shm

import "errors"

// Sentinel errors. Every error this package returns starts with "shm: ",
// says which segment and what went wrong, and wraps one of these (or an
// error from the system call that failed), so errors.Is can branch on them.
var (
	// ErrBadName: a segment name breaks a rule (see SegmentName).
	ErrBadName = errors.New("bad segment name")
	// ErrBadPrefix: MP_SHM_PREFIX, or a prefix given to RemoveStale, is not
	// a prefix of ours (see Prefix).
	ErrBadPrefix = errors.New("bad segment prefix")
	// ErrExists: Create found the name taken by a live segment.
	ErrExists = errors.New("segment exists and is in use")
	// ErrNotFound: no segment of that name (or it is being removed as
	// stale).
	ErrNotFound = errors.New("segment not found")
	// ErrMismatch: the segment holds another element type or shape, or a
	// copy has the wrong length.
	ErrMismatch = errors.New("type or shape mismatch")
	// ErrNoSpace: /dev/shm (or memory) cannot hold the array.
	ErrNoSpace = errors.New("not enough shared memory")
	// ErrNotOwner: Unlink by a process that did not create the segment.
	ErrNotOwner = errors.New("only the creator may unlink a segment")
	// ErrUnlinked: the segment's name is already gone.
	ErrUnlinked = errors.New("segment already unlinked")
	// ErrClosed: the array was closed in this process.
	ErrClosed = errors.New("array is closed")
	// ErrBadShape: no dimensions, more than 8, one below 1, or too large.
	ErrBadShape = errors.New("bad shape")
	// ErrBadDType: an element type name other than float32, float64,
	// int32, int64 or uint8.
	ErrBadDType = errors.New("unknown element type")
	// ErrFault: touching the mapping faulted, most likely because another
	// process shrank the segment's file under it (ftruncate). The
	// operation stopped part-way; the array stays usable for Close and
	// Unlink, the ring for Close. A named ring's calls are guarded so; the
	// slot Reserve returns and the view Next returns are not (as
	// Array.Data is not): a fault through them is fatal. Anonymous arrays
	// and rings are sealed against shrinking, and never fault.
	ErrFault = errors.New("memory fault on the mapping")

	// ErrBadConfig: a ring's slot size, slot count or policy is out of
	// range (see RingConfig).
	ErrBadConfig = errors.New("bad ring configuration")
	// ErrNotRing: the segment is not a ring, or a ring of another layout
	// version or geometry than its header says.
	ErrNotRing = errors.New("not a ring of this layout")
	// ErrFrameTooLarge: a frame larger than the ring's slots.
	ErrFrameTooLarge = errors.New("frame larger than a slot")
	// ErrDropped: the ring was full and its policy dropped this frame; the
	// ring's drop counter counts it.
	ErrDropped = errors.New("ring full: frame dropped")
	// ErrPeerDied: the process on the other side of a ring died (it did
	// not close its side).
	ErrPeerDied = errors.New("the other side of the ring died")
	// ErrCorrupt: a ring's shared counters or a slot hold values that no
	// producer or consumer of ours writes: another process scribbled over
	// the segment.
	ErrCorrupt = errors.New("ring corrupt")
	// ErrBusy: the side of a ring asked for is already taken by another
	// process.
	ErrBusy = errors.New("ring side already taken")
	// ErrRingClosed: this side of the ring was closed in this process.
	ErrRingClosed = errors.New("ring side is closed")
)
