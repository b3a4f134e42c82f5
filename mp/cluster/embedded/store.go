package embedded

import (
	"os"
	"path/filepath"
	"syscall"
)

// A temporary store holds ownerFile, locked (flock) by the program whose
// server uses it, for as long as that program lives: the kernel drops the
// lock when the program ends, however it ends. A store whose lock can be
// taken belongs to a program that is gone without removing it (SIGKILL, a
// crash, a test binary killed at its timeout), and is removed.
const (
	storePattern = "mp-nats-*"
	ownerFile    = "owner.lock"
)

// tempStore makes a temporary store directory and locks it.
func tempStore() (dir string, owner *os.File, err error) {
	dir, err = os.MkdirTemp("", storePattern)
	if err != nil {
		return "", nil, err
	}
	// Locked under another name, then renamed: a sweeper never sees an
	// ownerFile that is not locked yet.
	tmp := filepath.Join(dir, ownerFile+".new")
	owner, err = os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if err = syscall.Flock(int(owner.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			err = os.Rename(tmp, filepath.Join(dir, ownerFile))
		}
	}
	if err != nil {
		if owner != nil {
			owner.Close()
		}
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, owner, nil
}

// removeOrphans removes the temporary stores whose program is gone. A
// store without ownerFile (being made right now, or made before stores
// had one) is left alone.
func removeOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), storePattern))
	for _, dir := range dirs {
		f, err := os.Open(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		// EWOULDBLOCK: its program lives.
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}
