package shm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The ownership rule. A PID is not an identity, so nothing here looks at
// the PID in a segment's name. The kernel keeps the truth instead:
//
//   - the creator holds a shared flock(2) on its segment from creation
//     until it unlinks it or dies (Create, Unlink);
//   - every process that opens it holds a shared flock while it has it
//     open (Open, Close);
//   - a segment is stale when an exclusive non-blocking flock on it
//     succeeds (no live holder in any PID namespace: the lock is on the
//     inode) and no process visible in /proc maps it (which covers mappers
//     that take no lock);
//   - whoever removes a stale segment holds that exclusive lock while it
//     checks that the name still refers to the locked inode, then unlinks.
//
// aux/cleanup.bash applies the same rule.

// Stale reports whether the named segment is stale: its creator is gone
// (it neither holds its lock nor unlinked it) and nobody has it open or
// mapped. why says what decided, for logs: who keeps a live segment, or
// that nothing does. Stale only looks; RemoveStale removes.
//
// Stale fails with ErrBadName if segment is not a name of ours, and with
// ErrNotFound if it does not exist.
func Stale(segment string) (stale bool, why string, err error) {
	if _, _, _, err := splitSegment(segment); err != nil {
		return false, "", fmt.Errorf("shm: stale %q: %w", segment, err)
	}
	f, err := openSegment(filepath.Join(Dir, segment))
	if errors.Is(err, os.ErrNotExist) {
		return false, "", fmt.Errorf("shm: stale %q: %w", segment, ErrNotFound)
	}
	if err != nil {
		return false, "", fmt.Errorf("shm: stale %q: %w", segment, err)
	}
	defer f.Close() // releases the exclusive lock check may have taken
	stale, why, err = check(f)
	if err != nil {
		return false, "", fmt.Errorf("shm: stale %q: %w", segment, err)
	}
	return stale, why, nil
}

// openSegment opens path to apply the rule to it: read-only (a lock needs
// no more), without following a symbolic link, without blocking (on a FIFO
// somebody put there), and only if it is a regular file.
func openSegment(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%w: not a regular file", ErrBadName)
		}
		return nil, err
	}
	return f, nil
}

// check applies the rule to the segment open as f. When it returns true,
// the caller holds the exclusive lock on f until it closes f.
func check(f *os.File) (stale bool, why string, err error) {
	fd := int(f.Fd())
	err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, "a live process holds its lock (its creator, or a process that has it open)", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("lock: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, "", err
	}
	if pid := mapper(st.Dev, st.Ino); pid != 0 {
		unix.Flock(fd, unix.LOCK_UN)
		return false, fmt.Sprintf("process %d maps it", pid), nil
	}
	return true, "no live process holds its lock or maps it: its creator is gone", nil
}

// removeStale removes segment seg if it is stale, with a warning on slog's
// default logger. removed is also true when seg no longer exists.
func removeStale(seg string) (removed bool, why string, err error) {
	path := filepath.Join(Dir, seg)
	f, err := openSegment(path)
	if errors.Is(err, os.ErrNotExist) {
		return true, "gone already", nil
	}
	if err != nil {
		return false, "", err
	}
	defer f.Close()
	stale, why, err := check(f)
	if err != nil || !stale {
		return false, why, err
	}
	// Holding the exclusive lock: nobody can take the segment now, but the
	// name may have been removed, and even reused, since it was opened.
	same, err := sameFD(int(f.Fd()), path)
	if errors.Is(err, unix.ENOENT) {
		return true, "gone already", nil
	}
	if err != nil {
		return false, "", err
	}
	if !same {
		return false, "the name was reused while checking", nil
	}
	if err := unix.Unlink(path); err != nil {
		return false, "", fmt.Errorf("unlink: %w", err)
	}
	slog.Warn("shm: removed stale segment", "segment", seg, "why", why)
	return true, why, nil
}

// RemoveStale removes the stale segments whose names start with prefix (a
// prefix of ours, as MP_SHM_PREFIX holds; "mp-" for all of ours), each with
// a warning on slog's default logger, and returns their names. Live
// segments, files that are not segments of ours, and segments this process
// may not open (another user's) are left alone. A bad
// prefix is an error wrapping ErrBadPrefix; errors on single segments are
// joined, and the others are still removed.
func RemoveStale(prefix string) (removed []string, err error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("shm: remove stale %q: %w", prefix, err)
	}
	entries, err := os.ReadDir(Dir)
	if err != nil {
		return nil, fmt.Errorf("shm: remove stale %q: %w", prefix, err)
	}
	var errs []error
	for _, e := range entries {
		seg := e.Name()
		if !strings.HasPrefix(seg, prefix) || !e.Type().IsRegular() {
			continue
		}
		if _, _, _, err := splitSegment(seg); err != nil {
			continue
		}
		ok, _, err := removeStale(seg)
		if errors.Is(err, os.ErrPermission) {
			continue // another user's: not ours to judge, nor to remove
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("shm: remove stale %q: %w", seg, err))
		} else if ok {
			removed = append(removed, seg)
		}
	}
	return removed, errors.Join(errs...)
}

// mapper returns the PID of a process visible in /proc that maps the file
// dev/ino, or 0. It compares device and inode rather than the path, so a
// file that has been renamed or replaced since is never mistaken for
// another. Processes whose maps cannot be read (gone, or another user's:
// they could not open a 0600 segment of ours anyway) are skipped.
func mapper(dev, ino uint64) int {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if maps(pid, dev, ino) {
			return pid
		}
	}
	return 0
}

// maps reports whether process pid maps the file dev/ino. A line of
// /proc/<pid>/maps reads
//
//	7f1c2c000000-7f1c2c101000 rw-s 00000000 00:1a 1234   /dev/shm/mp-42-grid
func maps(pid int, dev, ino uint64) bool {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return false
	}
	defer f.Close()
	want := []byte(" " + strconv.FormatUint(ino, 10) + " ")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, want) {
			continue
		}
		fields := strings.Fields(string(line))
		if len(fields) < 5 || fields[4] != strconv.FormatUint(ino, 10) {
			continue
		}
		major, minor, ok := strings.Cut(fields[3], ":")
		maj, err1 := strconv.ParseUint(major, 16, 32)
		mnr, err2 := strconv.ParseUint(minor, 16, 32)
		if ok && err1 == nil && err2 == nil && unix.Mkdev(uint32(maj), uint32(mnr)) == dev {
			return true
		}
	}
	return false
}
