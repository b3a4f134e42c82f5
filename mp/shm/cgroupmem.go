package shm

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// A process in a memory cgroup (a container, a systemd unit) may take no
// more than the cgroup's limit: beyond it the kernel reclaims what it can
// and then runs the out-of-memory killer inside the cgroup, whatever the
// machine has free. cgroupAvailable reads what the limit leaves.
//
// The facts it rests on, from the kernel's documentation:
//
//   - /proc/self/cgroup has a line "hierarchy-ID:controller-list:path" for
//     each hierarchy the process is in; a cgroup v2 line is "0::path"
//     (cgroups(7), "/proc/[pid]/cgroup").
//   - cgroup v2 (Documentation/admin-guide/cgroup-v2.rst, "Memory
//     Interface Files"): memory.max is "the memory usage hard limit", or
//     "max"; "if a cgroup's memory usage reaches this limit and can't be
//     reduced, the OOM killer is invoked in the cgroup". memory.current is
//     "the total amount of memory currently being used by the cgroup and
//     its descendants". A parent's limit bounds its children too, so every
//     level up to the mount's root counts. memory.stat's inactive_file is
//     file-backed memory on the inactive reclaim list: page cache the
//     kernel takes back before it kills. Shared memory (tmpfs, shm
//     segments, memfds) is "shmem", swap-backed, never in it.
//   - cgroup v1 (Documentation/admin-guide/cgroup-v1/memory.rst):
//     memory.limit_in_bytes "set/show limit of memory usage" (no limit
//     reads as a number near 2^63), memory.usage_in_bytes "show current
//     usage for memory", which includes the page cache; memory.stat's
//     hierarchical_memory_limit is the limit "with regard to hierarchy",
//     the ancestors' included, and total_inactive_file the inactive page
//     cache of the cgroup and its descendants.
//
// So the memory left is the limit minus the usage, with the inactive page
// cache counted as free (as the kubelet's "working set" does), at the
// level that leaves the least. Hierarchies are looked for where systemd
// and container runtimes mount them: cgroup v2 at /sys/fs/cgroup, the v1
// memory controller at /sys/fs/cgroup/memory. In a container without a
// cgroup namespace, /proc/self/cgroup gives the path on the host, which
// does not exist inside; the mount's root, which is then the container's
// own cgroup, is read instead.

// cgroupAvailable returns how many bytes this process's memory cgroups
// leave under their limits, where that figure comes from, and false when
// no limit is set (or none can be read).
func cgroupAvailable(fsys fs.FS) (uint64, string, bool) {
	b, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return 0, "", false
	}
	best, source, found := ^uint64(0), "", false
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		fields := strings.SplitN(line, ":", 3)
		if len(fields) != 3 {
			continue
		}
		var avail uint64
		var src string
		var ok bool
		switch {
		case fields[0] == "0" && fields[1] == "":
			avail, src, ok = cgroup2Available(fsys, fields[2])
		case hasController(fields[1], "memory"):
			avail, src, ok = cgroup1Available(fsys, fields[2])
		}
		if ok && avail < best {
			best, source, found = avail, src, true
		}
	}
	if !found {
		return 0, "", false
	}
	return best, source, true
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// cgroup2Available reads memory.max, memory.current and memory.stat at
// every level of the v2 cgroup at cgroupPath, from the cgroup up to the
// mount's root, and returns what the tightest leaves.
func cgroup2Available(fsys fs.FS, cgroupPath string) (uint64, string, bool) {
	const root = "sys/fs/cgroup"
	best, source, found := ^uint64(0), "", false
	for dir := path.Join(root, cgroupPath); ; dir = path.Dir(dir) {
		limit, ok := readCgroupNumber(fsys, dir, "memory.max")
		if ok {
			usage, _ := readCgroupNumber(fsys, dir, "memory.current")
			stat, _ := fs.ReadFile(fsys, path.Join(dir, "memory.stat"))
			inactive, _ := statField(stat, "inactive_file")
			if avail := leftUnder(limit, usage, inactive); avail < best {
				best, found = avail, true
				source = fmt.Sprintf("memory.max − memory.current + inactive_file of cgroup %s (cgroup v2)", "/"+strings.TrimPrefix(strings.TrimPrefix(dir, root), "/"))
			}
		}
		if dir == root || !strings.HasPrefix(dir, root+"/") {
			return best, source, found
		}
	}
}

// cgroup1Available reads the v1 memory controller's files of the cgroup
// at cgroupPath, or of the mount's root when that path is not there.
func cgroup1Available(fsys fs.FS, cgroupPath string) (uint64, string, bool) {
	const root = "sys/fs/cgroup/memory"
	for _, dir := range []string{path.Join(root, cgroupPath), root} {
		limit, ok := readCgroupNumber(fsys, dir, "memory.limit_in_bytes")
		if !ok {
			continue
		}
		stat, _ := fs.ReadFile(fsys, path.Join(dir, "memory.stat"))
		if h, ok := statField(stat, "hierarchical_memory_limit"); ok && h < limit {
			limit = h
		}
		usage, _ := readCgroupNumber(fsys, dir, "memory.usage_in_bytes")
		inactive, _ := statField(stat, "total_inactive_file")
		return leftUnder(limit, usage, inactive), fmt.Sprintf("memory.limit_in_bytes − memory.usage_in_bytes + total_inactive_file of cgroup %s (cgroup v1)",
			"/"+strings.TrimPrefix(strings.TrimPrefix(dir, root), "/")), true
	}
	return 0, "", false
}

// leftUnder returns what limit leaves once usage, less the reclaimable
// inactive page cache, is taken.
func leftUnder(limit, usage, inactive uint64) uint64 {
	used := usage - min(inactive, usage)
	return limit - min(used, limit)
}

// readCgroupNumber reads a file of one number in bytes; "max" (no limit)
// and anything else but a number is false.
func readCgroupNumber(fsys fs.FS, dir, name string) (uint64, bool) {
	b, err := fs.ReadFile(fsys, path.Join(dir, name))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	return n, err == nil
}

// statField returns the value of field in a memory.stat file's text b
// ("name value" lines, in bytes), and whether it was there.
func statField(b []byte, field string) (uint64, bool) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		name, value, ok := bytes.Cut(line, []byte(" "))
		if ok && string(name) == field {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(value)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
