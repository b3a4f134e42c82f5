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
// Every error starts with "shm: " and wraps a sentinel (ErrExists,
// ErrNotFound, ErrMismatch, ErrFault …) for errors.Is.
package shm
