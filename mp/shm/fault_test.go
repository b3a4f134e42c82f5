package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestFaultCloseDuringFill(t *testing.T) {
	// Fault: Close is called while another goroutine runs Fill over and
	// over on a 64 MiB anonymous array (large enough for the non-temporal
	// assembly path). Without the use count, Close unmaps the memory under
	// the running Fill: a fatal fault, or writes into whatever is mapped
	// there next.
	a, err := CreateAnon[float64]("closing", 8<<20)
	require.NoError(t, err)
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := a.Fill(float64(i)); err != nil {
				done <- err
				return
			}
			if i == 0 {
				close(first)
			}
		}
	}()
	<-first
	require.NoError(t, a.Close(), "Close waits for the running Fill")
	err = <-done
	require.ErrorIs(t, err, ErrClosed, "the Fill after Close")
	assert.Equal(t, `shm: fill "closing": array is closed`, err.Error())
}

func TestFaultCloseDuringSumAndCopy(t *testing.T) {
	// Fault: Close is called while other goroutines run Sum and CopyFrom
	// in a loop on a 64 MiB anonymous array.
	a, err := CreateAnon[float64]("closing", 8<<20)
	require.NoError(t, err)
	src := make([]float64, a.Len())
	ops := map[string]func() error{
		"sum":  func() error { _, err := a.Sum(); return err },
		"copy": func() error { return a.CopyFrom(src) },
	}
	started := make(chan struct{}, len(ops))
	done := make(chan error, len(ops))
	for _, op := range ops {
		go func() {
			for i := 0; ; i++ {
				if err := op(); err != nil {
					done <- err
					return
				}
				if i == 0 {
					started <- struct{}{}
				}
			}
		}()
	}
	for range ops {
		<-started
	}
	require.NoError(t, a.Close())
	for range ops {
		assert.ErrorIs(t, <-done, ErrClosed)
	}
}

// shrunk returns a named array of 8 MiB of float64 (past the size from
// which Fill uses non-temporal stores) whose segment another party has cut
// down to its header page with ftruncate: every element is now past the end
// of the file, and touching it raises SIGBUS.
func shrunk(t *testing.T) *Array[float64] {
	useShmPrefix(t)
	a, err := Create[float64]("shrunk", 1<<20)
	require.NoError(t, err)
	t.Cleanup(func() {
		a.Close()
		a.Unlink()
	})
	require.NoError(t, a.Fill(1))
	require.NoError(t, os.Truncate(filepath.Join(Dir, a.Name()), headerSize))
	return a
}

func TestFaultShrunkSegmentSum(t *testing.T) {
	// Fault: another process shrinks the segment's file (ftruncate) under a
	// live mapping; Sum then touches pages past the end of the file
	// (SIGBUS). Without the fault guard the test binary dies.
	a := shrunk(t)
	_, err := a.Sum()
	require.ErrorIs(t, err, ErrFault)
	assert.Contains(t, err.Error(), `shm: sum "`+a.Name()+`": memory fault on the mapping at byte 4096`)
	assert.Contains(t, err.Error(), "the segment is now 4096 bytes: shrunk by another process?")
	assertShmPrefixOnce(t, err)
}

func TestFaultShrunkSegmentFillCopyUse(t *testing.T) {
	// Fault: as above, then Fill (the assembly path), CopyFrom (the
	// runtime's memmove) and Use (the caller's own loop) touch the missing
	// pages.
	a := shrunk(t)
	require.ErrorIs(t, a.Fill(2), ErrFault)
	require.ErrorIs(t, a.CopyFrom(make([]float64, a.Len())), ErrFault)
	require.ErrorIs(t, a.Use(func(data []float64) { data[len(data)-1] = 3 }), ErrFault)

	// The array is still whole for what does not touch the lost pages.
	require.NoError(t, a.Use(func(data []float64) {}))
	require.NoError(t, a.Close())
	require.NoError(t, a.Unlink())
}

func TestPanicInUseIsNotAFault(t *testing.T) {
	// A panic of the caller's own in Use, even a memory fault outside the
	// mapping, is not ours to turn into an error: it goes on.
	a, err := CreateAnon[int32]("panics", 4)
	require.NoError(t, err)
	defer a.Close()
	mine := errors.New("mine")
	assert.PanicsWithValue(t, mine, func() { a.Use(func([]int32) { panic(mine) }) })
	var p *[4]int32
	assert.Panics(t, func() { a.Use(func([]int32) { p[1] = 1 }) })
	assert.NoError(t, a.Fill(1), "the array still works")
}

func TestAnonSealed(t *testing.T) {
	// Fault: somebody with the memfd tries to shrink (or grow) it, which
	// would make every mapping of the pages past the new end fault. The
	// seals refuse.
	a, err := CreateAnon[float64]("sealed", 1024)
	require.NoError(t, err)
	defer a.Close()
	fd := int(a.File().Fd())
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fd, &st))
	assert.ErrorIs(t, unix.Ftruncate(fd, headerSize), unix.EPERM, "shrink")
	assert.ErrorIs(t, unix.Ftruncate(fd, st.Size*2), unix.EPERM, "grow")
	_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE)
	assert.ErrorIs(t, err, unix.EPERM, "the seals are sealed")
	require.NoError(t, a.Fill(1))
	sum, err := a.Sum()
	require.NoError(t, err)
	assert.Equal(t, 1024.0, sum)

	// A backend opens it through /proc, as it would through an inherited
	// descriptor: the seals hold there too.
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	assert.ErrorIs(t, f.Truncate(0), unix.EPERM)
}
