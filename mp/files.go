package mp

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// passFiles returns duplicates of files for exec.Cmd.ExtraFiles, and a
// function to call once the child has started.
//
// Why duplicates: os/exec calls Fd on every file it passes, and Fd switches
// an *os.File to blocking mode for good: its deadlines stop working and a
// Close no longer interrupts a blocked Accept or Read. Passing duplicates
// keeps the caller's *os.File as it was. The mode itself (O_NONBLOCK)
// belongs to the open file description, which the duplicates share, so os/exec
// still clears it for the caller too; restore sets it back where it was set.
func passFiles(files []*os.File) (dups []*os.File, restore func(), err error) {
	var nonblocking []int
	restore = func() {
		for _, fd := range nonblocking {
			unix.SetNonblock(fd, true) // before the duplicate closes
		}
		for _, f := range dups {
			f.Close()
		}
	}
	for i, f := range files {
		if f == nil {
			restore()
			return nil, func() {}, fmt.Errorf("Options.Files[%d] is nil: %w", i, os.ErrInvalid)
		}
		rc, err := f.SyscallConn()
		if err != nil {
			restore()
			return nil, func() {}, fmt.Errorf("Options.Files[%d] (%s): %w", i, f.Name(), err)
		}
		var dup, flags int
		var opErr error
		// Control reaches the descriptor without switching the file to
		// blocking mode, as Fd would.
		err = rc.Control(func(fd uintptr) {
			if flags, opErr = unix.FcntlInt(fd, unix.F_GETFL, 0); opErr != nil {
				return
			}
			dup, opErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		})
		if err == nil {
			err = opErr
		}
		if err != nil {
			restore()
			return nil, func() {}, fmt.Errorf("Options.Files[%d] (%s): %w", i, f.Name(), err)
		}
		if flags&unix.O_NONBLOCK != 0 {
			nonblocking = append(nonblocking, dup)
		}
		dups = append(dups, os.NewFile(uintptr(dup), f.Name()))
	}
	return dups, restore, nil
}
