package shm

import (
	"fmt"
	"runtime/debug"
	"unsafe"
)

// use runs fn on the elements while holding the mapping, so that Close
// waits for it, and turns a fault on the mapping into an error wrapping
// ErrFault. op names the operation in errors ("fill", "sum" …).
//
// A fault is what touching a page of a shared mapping past the end of its
// file does (SIGBUS): another process may shrink a named segment with
// ftruncate at any time. With debug.SetPanicOnFault the runtime turns it
// into a panic carrying the address instead of killing the program; only a
// fault inside this array's mapping is recovered here, any other panic goes
// on.
func (a *Array[T]) use(op string, fn func(data []T)) (err error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.mem == nil {
		return fmt.Errorf("shm: %s %q: %w", op, a.name, ErrClosed)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = a.faultError(op, r)
		}
	}()
	fn(a.data)
	return nil
}

// faultError returns the error for the panic r if it is a fault on this
// array's mapping, and panics again with r otherwise.
func (a *Array[T]) faultError(op string, r any) error {
	n, ok := a.fileSize()
	return fmt.Errorf("shm: %s %q: %w", op, a.name, faultIn(a.mem, r, n, ok))
}

// faultIn returns the error, wrapping ErrFault, for the panic r if it is a
// fault inside mem, the mapping of a file now size bytes long (if known),
// and panics again with r otherwise.
func faultIn(mem []byte, r any, size int64, known bool) error {
	f, ok := r.(interface{ Addr() uintptr })
	start := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	if !ok || f.Addr() < start || f.Addr() >= start+uintptr(len(mem)) {
		panic(r)
	}
	why := "the segment's size is unknown"
	if known && size < int64(len(mem)) {
		why = fmt.Sprintf("the segment is now %d bytes: shrunk by another process?", size)
	} else if known {
		why = fmt.Sprintf("the segment is %d bytes", size)
	}
	return fmt.Errorf("%w at byte %d of a %d-byte mapping; %s", ErrFault, f.Addr()-start, len(mem), why)
}

// fileSize returns the current size of the segment's file.
func (a *Array[T]) fileSize() (int64, bool) {
	a.fmu.Lock()
	defer a.fmu.Unlock()
	f := a.file
	if a.anon != nil {
		f = a.anon
	}
	if f == nil {
		return 0, false
	}
	st, err := f.Stat()
	if err != nil {
		return 0, false
	}
	return st.Size(), true
}
