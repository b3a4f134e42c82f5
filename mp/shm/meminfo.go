package shm

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// An array's pages are reserved as it is created (allocate), so that no
// later write can fault. /dev/shm's size bounds a named array, but not
// always memory (/dev/shm may be as large as memory itself), and nothing
// bounds an anonymous one: asked for more than memory holds, fallocate(2)
// does not fail, the kernel's out-of-memory killer ends processes instead —
// others than this one first. memoryFor refuses such a size up front. In a
// container, the memory the kernel lets this process take is its memory
// cgroup's limit (cgroupmem.go), often far below the machine's.

// memoryFor returns an ErrNoSpace error if size bytes of pages are more than
// memory can take now (available), nil otherwise.
func memoryFor(size int) error {
	avail, source := available()
	if uint64(size) <= avail {
		return nil
	}
	return fmt.Errorf("%w: %d bytes asked, %d available (%s)", ErrNoSpace, size, avail, source)
}

// available returns how many bytes of pages an array may take without the
// kernel running out of memory, and where that figure comes from: the
// machine's figure (machineAvailable), or this process's memory cgroup's
// (cgroupAvailable) when its limit leaves less. A variable for tests.
var available = func() (uint64, string) {
	avail, source := machineAvailable(sysFS)
	if c, csource, ok := cgroupAvailable(sysFS); ok && c < avail {
		return c, csource
	}
	return avail, source
}

// sysFS is where the figures are read: /proc/meminfo, /proc/self/cgroup,
// and the cgroup files under /sys/fs/cgroup. A variable for tests, which
// give it files of their own.
var sysFS fs.FS = os.DirFS("/")

// machineAvailable returns MemAvailable plus SwapFree from /proc/meminfo
// (proc(5): "an estimate of how much memory is available for starting new
// applications, without swapping"), or, without /proc, total memory and
// swap from sysinfo(2), which refuses only what can never fit.
func machineAvailable(fsys fs.FS) (uint64, string) {
	if b, err := fs.ReadFile(fsys, "proc/meminfo"); err == nil {
		mem, okMem := meminfoField(b, "MemAvailable")
		swap, okSwap := meminfoField(b, "SwapFree")
		if okMem && okSwap {
			return mem + swap, "MemAvailable + SwapFree in /proc/meminfo"
		}
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return ^uint64(0), "unknown"
	}
	return (uint64(si.Totalram) + uint64(si.Totalswap)) * uint64(si.Unit), "total memory and swap, sysinfo(2)"
}

// meminfoField returns the value of field in /proc/meminfo's text b, in
// bytes (the file says kB, meaning KiB), and whether it was there.
func meminfoField(b []byte, field string) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		value, unit, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
		n, err := strconv.ParseUint(string(value), 10, 64)
		if err != nil {
			return 0, false
		}
		if string(unit) == "kB" {
			n <<= 10
		}
		return n, true
	}
	return 0, false
}
