package mp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every process this package starts carries a name that tools can find:
//
//	argv[0] = "mp:<program>/<name>"   e.g. "mp:ping/my-process"
//	comm    = "mp:<name>", cut to the 15 bytes the kernel keeps, between characters
//
// ps, htop and smem show argv[0]; pgrep -f '^mp:' and aux/cleanup.bash find
// exactly our processes by it, and never anybody else's.

// ProcessPrefix starts argv[0] of every backend process.
const ProcessPrefix = "mp:"

// argv0 builds the command line name of backend name.
func argv0(name string) string {
	prog := "mp"
	if exe, err := os.Executable(); err == nil {
		prog = filepath.Base(exe)
	}
	return ProcessPrefix + prog + "/" + name
}

// checkProcessName returns an error if name cannot name a process.
func checkProcessName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: it is empty", ErrBadProcessName)
	case len(name) > 64:
		return fmt.Errorf("%w: %.20q… is longer than 64 bytes", ErrBadProcessName, name)
	case strings.ContainsAny(name, "/\x00 \t\n"):
		return fmt.Errorf("%w: %q contains '/', a space or a NUL", ErrBadProcessName, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not UTF-8", ErrBadProcessName, name)
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
		// A carriage return or an escape sequence would rewrite the
		// log lines and the ps output the name appears in.
		return fmt.Errorf("%w: %q contains a character that is not printable", ErrBadProcessName, name)
	}
	return nil
}

// setThreadName sets the calling thread's name (comm), cut to the 15
// bytes the kernel keeps (prctl(2), PR_SET_NAME), before a character that
// would not fit whole.
func setThreadName(name string) {
	for len(name) > 15 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	b := make([]byte, 16)
	copy(b, name)
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}
