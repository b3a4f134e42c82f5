// Package shm puts N-dimensional arrays of numbers in shared memory that
// several processes map, the way POSIX shm_open and mmap do, viewed the way
// numpy views a buffer: an element type (DType), a shape, row-major data.
//
// A named array lives in /dev/shm under a name of ours (see SegmentName).
// Its creator (a frontend, usually) makes it with Create and sends its Name
// or Spec to the other process, which maps it with Open or OpenAny:
//
//	grid, err := shm.Create[float64]("grid", 100, 100) // creator
//	defer grid.Unlink()
//	defer grid.Close()
//	err = grid.Fill(1)
//	// … send grid.Spec() in a message …
//	view, err := shm.Open[float64](name, 100, 100) // the other process
//	defer view.Close()
//
// Exactly one process, the creator, unlinks a segment. The creator holds a
// shared file lock on it from creation to Unlink, and every opener holds
// one while it has it open, so a segment whose creator died is told from a
// live one by the kernel, not by PIDs (see Stale): Create removes a stale
// segment that has its name, and RemoveStale removes them for tools.
//
// An anonymous array (CreateAnon, OpenFile) lives in a sealed memfd passed
// to the backend as a file: it has no name, so nothing can be left behind.
//
// Arrays are safe for concurrent use, and never crash the program: Close
// waits for running operations, and a fault on the mapping (the segment
// shrunk by another process) is an error wrapping ErrFault. Data is the
// unguarded way in.
//
// # Rings
//
// A Ring streams frames (video frames, sensor samples) from one producer
// process to one consumer process through fixed-size slots in one segment,
// named (CreateRing) or anonymous (CreateRingAnon). The producer writes a
// frame in place (Reserve, Commit) and the consumer reads it in place
// (Next, Release): one write into memory both processes map, no copy, no
// system call while both sides are busy. A side that finds the ring empty
// or full polls it briefly, then sleeps on an eventfd that the other side
// writes only when it sees that side's waiting flag. The full-ring policy
// is Block, DropNewest or DropOldest (FullPolicy). A closed producer is
// io.EOF after the last frame; a dead one (SIGKILL) is ErrPeerDied, found
// through a pidfd of the other process, within the wait itself. A side's
// Close gives the side up, as closing a pipe's end does: another
// Producer or Consumer, in this process or another, takes it again. A named
// ring's segment shrunk by another process is ErrFault, as for arrays,
// but for the slots a side writes or reads in place.
//
// The ring's layout, for programs in other languages (aux/ring_read.py
// reads it with numpy). All integers are little-endian; the counters are
// 8-byte aligned and read and written whole (atomically).
//
//	offset  size  field
//	0       8     magic "mp-ring\x00"
//	8       4     layout version, 3
//	12      4     full-ring policy: 0 block, 1 drop-newest, 2 drop-oldest
//	16      8     slot size S: the largest frame, in bytes
//	24      8     slot count N, a power of two
//	32      8     slot stride: (16 + S) rounded up to 64
//	40      8     offset of slot 0: 4096
//	48      8     producer's PID, 0 while no producer holds the side
//	              (before the first take, and once one gave it up)
//	56      8     producer's start time (/proc/<pid>/stat field 22)
//	64      8     consumer's PID, 0 while no consumer holds the side
//	72      8     consumer's start time
//	80      4     1 if the producer publishes without a fence (below)
//	84      4     1 if the consumer publishes without a fence
//	88      8     slot step M: odd, below N (1 when N is 1); the
//	              creator's is N×(√5−1)/2 rounded down, made odd
//	128     8     head: frames committed so far (the producer's line;
//	              written after each frame's sequence number, without
//	              ordering: trust the sequence numbers)
//	136     8     frames dropped by the full-ring policy
//	256     8     tail: frames released so far, published in batches of
//	              N/8 under block and drop-newest; bit 63 is set while
//	              the consumer reads frame tail under drop-oldest (the
//	              consumer's line, 128 bytes from the producer's)
//	384     4     1 while the producer sleeps (waits for a slot)
//	388     4     1 once the producer closed (end of stream); a
//	              producer that takes the side over sets it to 0
//	392     4     producer takes: one more at each take (a consumer at
//	              the end of a stream tells a new producer's by it)
//	512     4     1 while the consumer sleeps (waits for a frame)
//	516     4     1 once the consumer closed; a consumer that
//	              takes the side over sets it to 0
//	4096    …     N slots, one every stride bytes
//
// Frame number k (counted from 0) lives in slot k×M mod N (slot j at
// offset 4096 + j×stride). Consecutive frames lie far apart: in address
// order, small frames streamed at half the rate (a CPU's prefetcher, which
// fetches the lines after those a program reads, most likely took lines
// from the other side's CPU before their time).
//
//	offset  size  field
//	0       8     sequence number: k+1 once frame k is committed, written
//	              after the frame; 0 if the slot was never used
//	8       8     frame length, at most S
//	16      S     the frame
//
// A reader takes frame k only when the slot's sequence number is k+1, and
// a frame that a producer was writing when it died is never taken. Every
// other byte of the header is zero.
//
// A side publishes (a sequence number, the tail) with a release store,
// then loads the other side's sleeping flag and writes the other side's
// eventfd only if it is set. A side that goes to sleep stores its own
// flag, looks at the ring once more, and sleeps only if it must. One of
// the two must see the other's store: when the other side says, at offset
// 80 or 84, that it publishes without a fence, a side about to sleep calls
// membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0) between storing its flag
// and its last look (and the publisher's process registered with
// MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED); otherwise the publisher's
// store is sequentially consistent. A program in another language that
// takes a side follows the same rule.
//
// A side is taken (its PID and start time checked; then its closed flag
// cleared, its start time and PID written) under a record lock, fcntl F_OFD_SETLK, on those 16 bytes of the header (offset
// 48 or 64): a taker that finds the lock held is told the side is busy, so
// two takers at once never both have it. A program in another language may
// lock them with F_OFD_SETLK or F_SETLK (lockf), which conflict; an
// F_SETLK lock lasts only until that program closes any descriptor of the
// segment. A side is given up when it is closed, after its last store to
// the ring: its PID is swapped for 0 (a compare-and-swap of its own PID,
// without the lock; the start time stays), and any process may take it
// again. A side whose holder died is taken over without that.
//
// Every error starts with "shm: " and wraps a sentinel (ErrExists,
// ErrNotFound, ErrMismatch, ErrFault …) for errors.Is.
package shm
