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
	// Unlink.
	ErrFault = errors.New("memory fault on the mapping")
)
