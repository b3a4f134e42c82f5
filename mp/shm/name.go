package shm

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Named segments live in Dir under names that say whose they are, for
// humans:
//
//	<prefix><creator PID>-<name>      e.g. mp-4242-my-array
//
// The PID is a hint, never an identity: PIDs are reused (a restarted
// container's program is PID 2 again) and differ between PID namespaces.
// Who owns a segment, and whether it is stale, is decided by file locks
// (see Stale), never by that number.
//
// The prefix is "mp-" unless MP_SHM_PREFIX says otherwise (the tests give
// every run its own, such as "mp-ts1a2b-", so that parallel runs never
// collide and cleanup can be limited to one run).

// Dir is where named segments live.
const Dir = "/dev/shm"

// DefaultPrefix starts the name of every segment of ours.
const DefaultPrefix = "mp-"

// PrefixEnv is the environment variable that sets the prefix.
const PrefixEnv = "MP_SHM_PREFIX"

// Limits on names, in bytes.
const (
	maxNameLen    = 200 // the caller's part
	maxPrefixLen  = 64
	maxSegmentLen = 255 // the whole file name, as the file system allows
)

// prefixRule is what a prefix must look like, for error messages.
const prefixRule = `"mp-" followed by words of letters, digits or '_', each ending in '-', ` +
	`none all digits (it would read as the creator's PID), at most 64 bytes: "mp-" or "mp-test7-", say`

// Prefix returns the prefix of segment names: MP_SHM_PREFIX if it is set
// and not empty, "mp-" otherwise. It is the one place that reads the
// variable; Create, Open, Stale and SegmentName all go through it, so a bad
// value is the same error everywhere, wrapping ErrBadPrefix and naming the
// variable and what it may hold.
func Prefix() (string, error) {
	p, err := prefix()
	if err != nil {
		return "", fmt.Errorf("shm: %w", err)
	}
	return p, nil
}

func prefix() (string, error) {
	p := os.Getenv(PrefixEnv)
	if p == "" {
		return DefaultPrefix, nil
	}
	if err := checkPrefix(p); err != nil {
		return "", fmt.Errorf("%s=%q: %w", PrefixEnv, p, err)
	}
	return p, nil
}

// checkPrefix returns an error wrapping ErrBadPrefix unless p is a prefix
// of ours.
func checkPrefix(p string) error {
	rest, ok := strings.CutPrefix(p, DefaultPrefix)
	bad := !ok || len(p) > maxPrefixLen || (rest != "" && !strings.HasSuffix(rest, "-"))
	if !bad && rest != "" {
		for _, w := range strings.Split(strings.TrimSuffix(rest, "-"), "-") {
			if !isWord(w) {
				bad = true
				break
			}
		}
	}
	if bad {
		return fmt.Errorf("%w: want %s", ErrBadPrefix, prefixRule)
	}
	return nil
}

// isWord reports whether w is a valid word of a prefix: letters, digits and
// '_', not all digits.
func isWord(w string) bool {
	if w == "" || isNumber(w) {
		return false
	}
	for _, r := range w {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func isNumber(w string) bool { return w != "" && strings.Trim(w, "0123456789") == "" }

// SegmentName returns the segment name that Create(name, …) uses in this
// process. It fails with ErrBadPrefix if MP_SHM_PREFIX is bad, and with
// ErrBadName, naming the rule, if name is empty, holds a '/', "..", or a
// NUL, is longer than 200 bytes, or makes a file name longer than 255 bytes
// once prefixed.
func SegmentName(name string) (string, error) {
	seg, err := segmentName(name)
	if err != nil {
		return "", fmt.Errorf("shm: %w", err)
	}
	return seg, nil
}

func segmentName(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	p, err := prefix()
	if err != nil {
		return "", err
	}
	seg := p + strconv.Itoa(os.Getpid()) + "-" + name
	if len(seg) > maxSegmentLen {
		return "", fmt.Errorf("%w: %.20q… with its prefix %q is %d bytes, more than the %d a file name can have", ErrBadName, name, p, len(seg), maxSegmentLen)
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

// SplitSegment splits a segment name of ours into its prefix, its
// creator's PID and the caller's name: "mp-ts1a-42-grid" gives "mp-ts1a-",
// 42, "grid". A name that Create could not have made (another prefix form,
// no PID, a bad name part) is an error wrapping ErrBadName.
//
// The PID is only a hint for humans: never decide from it whether the
// creator lives (PIDs are reused, and differ between PID namespaces); Stale
// does that.
func SplitSegment(seg string) (prefix string, pid int, name string, err error) {
	prefix, pid, name, err = splitSegment(seg)
	if err != nil {
		return "", 0, "", fmt.Errorf("shm: %w", err)
	}
	return prefix, pid, name, nil
}

func splitSegment(seg string) (string, int, string, error) {
	notOurs := func(why string) error {
		return fmt.Errorf("%w: %q is not a segment of ours (%s; want <prefix><pid>-<name>, as Create makes it)", ErrBadName, seg, why)
	}
	if len(seg) > maxSegmentLen {
		return "", 0, "", notOurs(fmt.Sprintf("longer than %d bytes", maxSegmentLen))
	}
	rest, ok := strings.CutPrefix(seg, DefaultPrefix)
	if !ok {
		return "", 0, "", notOurs(fmt.Sprintf("no %q prefix", DefaultPrefix))
	}
	words := strings.Split(rest, "-")
	for i, w := range words[:len(words)-1] {
		if isNumber(w) {
			pid, err := strconv.Atoi(w)
			if err != nil || pid < 1 {
				return "", 0, "", notOurs("bad PID")
			}
			p := DefaultPrefix + strings.Join(words[:i], "-")
			if i > 0 {
				p += "-"
			}
			if err := checkPrefix(p); err != nil {
				return "", 0, "", notOurs("bad prefix")
			}
			name := strings.Join(words[i+1:], "-")
			if err := checkName(name); err != nil {
				return "", 0, "", err
			}
			return p, pid, name, nil
		}
	}
	return "", 0, "", notOurs("no PID")
}
