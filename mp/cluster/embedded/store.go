package embedded

import (
	"errors"
	"fmt"
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

// storeLock is the file of a store named by Config.StoreDir that its
// server's program locks, so that no second server uses the store at the
// same time (JetStream does not check, and two servers on one store
// corrupt it). It has another name than ownerFile: such a store is never
// removed by removeOrphans, wherever it is.
const storeLock = "store.lock"

// lockStore creates dir if needed and locks it for this program.
func lockStore(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("JetStream store: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, storeLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("JetStream store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("JetStream store %s is used by another running server (it holds %s)", dir, storeLock)
		}
		return nil, fmt.Errorf("JetStream store %s: %w", dir, err)
	}
	return f, nil
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
