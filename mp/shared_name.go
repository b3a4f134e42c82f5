package mp

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Shared-memory segments live in /dev/shm under names that say whose they
// are:
//
//	<prefix><creator PID>-<name>      e.g. mp-4242-my-array
//
// The prefix is "mp-" unless MP_SHM_PREFIX says otherwise (tests give every
// run its own, such as "mp-ts1a2b-", so parallel runs never collide); it must
// start with "mp-". The creator's PID in the name is what lets
// aux/cleanup.bash find segments whose owner is dead: it is the first
// all-digit part after "mp-", and /proc/<pid> tells whether it still runs.
// The same PID is also in the segment's header.

// DefaultSegmentPrefix starts the name of every segment this package creates.
const DefaultSegmentPrefix = "mp-"

// shmDir is where named segments live.
const shmDir = "/dev/shm"

// Limits on names.
const (
	maxNameLen    = 200 // the caller's part
	maxSegmentLen = 255 // the whole file name, as the file system allows
)

// ErrBadName is wrapped by every error about a segment name or prefix.
var ErrBadName = errors.New("mp: bad shared-memory name")

// SegmentPrefix returns the prefix of segment names: MP_SHM_PREFIX if set,
// "mp-" otherwise. A prefix that does not start with "mp-", holds a '/' or
// a NUL, is longer than 64 bytes, or has an all-digit dash-separated part
// (which would be read as the creator's PID) is an error wrapping
// ErrBadName.
func SegmentPrefix() (string, error) {
	p := os.Getenv("MP_SHM_PREFIX")
	if p == "" {
		return DefaultSegmentPrefix, nil
	}
	if !strings.HasPrefix(p, DefaultSegmentPrefix) || strings.ContainsAny(p, "/\x00") || len(p) > 64 {
		return "", fmt.Errorf("%w: MP_SHM_PREFIX %q must start with %q, hold no '/' or NUL and be at most 64 bytes", ErrBadName, p, DefaultSegmentPrefix)
	}
	for _, part := range strings.Split(p, "-") {
		if part != "" && strings.Trim(part, "0123456789") == "" {
			return "", fmt.Errorf("%w: MP_SHM_PREFIX %q has an all-digit part %q, which would be read as the creator's PID", ErrBadName, p, part)
		}
	}
	return p, nil
}

// SegmentName returns the segment name that CreateArray(name, …) uses in
// this process, or an error wrapping ErrBadName that names the rule name
// breaks: empty, a '/', "..", a NUL, or more than 200 bytes.
func SegmentName(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	prefix, err := SegmentPrefix()
	if err != nil {
		return "", err
	}
	seg := prefix + strconv.Itoa(os.Getpid()) + "-" + name
	if len(seg) > maxSegmentLen {
		return "", fmt.Errorf("%w: %.20q… with its prefix %q is %d bytes, more than the %d a file name can have", ErrBadName, name, prefix, len(seg), maxSegmentLen)
	}
	return seg, nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrBadName)
	case strings.Contains(name, "/"):
		return fmt.Errorf("%w: %q contains '/'", ErrBadName, name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%w: %q contains \"..\"", ErrBadName, name)
	case strings.Contains(name, "\x00"):
		return fmt.Errorf("%w: %q contains a NUL byte", ErrBadName, name)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: %.20q… is %d bytes, more than %d", ErrBadName, name, len(name), maxNameLen)
	}
	return nil
}

// checkSegment validates a full segment name, as OpenArray receives it.
func checkSegment(seg string) error {
	if err := checkName(seg); err != nil {
		return err
	}
	if len(seg) > maxSegmentLen {
		return fmt.Errorf("%w: %.20q… is longer than %d bytes", ErrBadName, seg, maxSegmentLen)
	}
	if _, ok := SegmentOwner(seg); !ok {
		return fmt.Errorf("%w: %q is not a segment of ours (want %s<pid>-<name>, as Name returns)", ErrBadName, seg, DefaultSegmentPrefix)
	}
	return nil
}

// SegmentOwner returns the creator's PID from a segment name, and false if
// the name is not one of ours: it must start with "mp-", and the creator's
// PID is its first all-digit dash-separated part, followed by the name.
func SegmentOwner(seg string) (pid int, ok bool) {
	rest, found := strings.CutPrefix(seg, DefaultSegmentPrefix)
	if !found {
		return 0, false
	}
	parts := strings.Split(rest, "-")
	for i, part := range parts[:len(parts)-1] {
		if n, err := strconv.Atoi(part); err == nil && n > 0 && part[0] != '+' {
			return n, strings.Join(parts[i+1:], "-") != ""
		}
	}
	return 0, false
}
