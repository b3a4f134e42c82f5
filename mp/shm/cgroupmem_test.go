package shm

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setSysFS makes available read the files fsys holds, until the test ends.
func setSysFS(t *testing.T, fsys fstest.MapFS) {
	old := sysFS
	sysFS = fsys
	t.Cleanup(func() { sysFS = old })
}

// file is a fake file's text.
func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// meminfo16G is a machine with 16 GiB available and no swap.
const meminfo16G = "MemTotal:       16777216 kB\nMemAvailable:   16777216 kB\nSwapFree:              0 kB\n"

// Fault: this process runs in a container whose memory cgroup allows 1 GiB
// (files faked, nothing allocated), of which 960 MiB are used, 16 MiB of
// them inactive page cache; the machine has 16 GiB available. memoryFor
// went by the machine alone and let a 100 MiB array be reserved, which
// the kernel would have paid for with the container's out-of-memory
// killer. What the limit leaves, 80 MiB, is now what is available, said
// to come from the cgroup, under cgroup v2 and v1 alike.
func TestCreateBeyondTheCgroupLimit(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"cgroup v2": {
			"proc/meminfo":                     file(meminfo16G),
			"proc/self/cgroup":                 file("0::/\n"),
			"sys/fs/cgroup/memory.max":         file("1073741824\n"),
			"sys/fs/cgroup/memory.current":     file("1006632960\n"),
			"sys/fs/cgroup/memory.stat":        file("anon 900000000\nfile 100000000\ninactive_file 16777216\nshmem 0\n"),
			"sys/fs/cgroup/cgroup.controllers": file("cpu memory\n"),
		},
		"cgroup v1": {
			"proc/meminfo":     file(meminfo16G),
			"proc/self/cgroup": file("5:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n"),
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": file("1073741824\n"),
			"sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes": file("1006632960\n"),
			"sys/fs/cgroup/memory/docker/abc/memory.stat":           file("cache 100000000\ninactive_file 1\nhierarchical_memory_limit 9223372036854771712\ntotal_inactive_file 16777216\n"),
		},
	} {
		t.Run(name, func(t *testing.T) {
			useShmPrefix(t)
			setSysFS(t, fsys)
			avail, source := available()
			assert.Equal(t, uint64(80<<20), avail)
			assert.Contains(t, source, "of cgroup /")
			_, err := CreateAnon[byte]("big", 100<<20)
			require.ErrorIs(t, err, ErrNoSpace)
			assert.Regexp(t, `: 1048[0-9]{5} bytes asked, 83886080 available \(memory\.`, err.Error())
			small, err := CreateAnon[byte]("small", 4096)
			require.NoError(t, err, "what fits under the limit is still made")
			require.NoError(t, small.Close())
		})
	}
}

// cgroupAvailable takes the level that leaves the least: a parent's limit
// (v2) or the hierarchical limit (v1) below the cgroup's own; reads the
// mount's root when the path /proc/self/cgroup gives is not there (a
// container without a cgroup namespace); and says false when no limit is
// set, so that the machine's figure is used.
func TestCgroupAvailable(t *testing.T) {
	for name, tc := range map[string]struct {
		fsys   fstest.MapFS
		want   uint64 // 0: no limit found
		source string
	}{
		"v2 parent's limit": {fstest.MapFS{
			"proc/self/cgroup":                     file("0::/a/b\n"),
			"sys/fs/cgroup/a/b/memory.max":         file("max\n"),
			"sys/fs/cgroup/a/b/memory.current":     file("100\n"),
			"sys/fs/cgroup/a/memory.max":           file("1000\n"),
			"sys/fs/cgroup/a/memory.current":       file("400\n"),
			"sys/fs/cgroup/a/memory.stat":          file("inactive_file 100\n"),
			"sys/fs/cgroup/memory.stat":            file("inactive_file 0\n"),
			"sys/fs/cgroup/cgroup.subtree_control": file("memory\n"),
		}, 700, "of cgroup /a (cgroup v2)"},
		"v2 own limit below the parent's": {fstest.MapFS{
			"proc/self/cgroup":                 file("0::/a/b\n"),
			"sys/fs/cgroup/a/b/memory.max":     file("500\n"),
			"sys/fs/cgroup/a/b/memory.current": file("100\n"),
			"sys/fs/cgroup/a/memory.max":       file("1000\n"),
			"sys/fs/cgroup/a/memory.current":   file("200\n"),
		}, 400, "of cgroup /a/b (cgroup v2)"},
		"v2 usage above the limit": {fstest.MapFS{
			"proc/self/cgroup":             file("0::/\n"),
			"sys/fs/cgroup/memory.max":     file("1000\n"),
			"sys/fs/cgroup/memory.current": file("1200\n"),
		}, 0, "of cgroup / (cgroup v2)"},
		"v2 host path, container's root": {fstest.MapFS{
			"proc/self/cgroup":             file("0::/system.slice/docker-abc.scope\n"),
			"sys/fs/cgroup/memory.max":     file("1000\n"),
			"sys/fs/cgroup/memory.current": file("10\n"),
		}, 990, "of cgroup / (cgroup v2)"},
		"v2 no limit": {fstest.MapFS{
			"proc/self/cgroup":             file("0::/a\n"),
			"sys/fs/cgroup/a/memory.max":   file("max\n"),
			"sys/fs/cgroup/memory.current": file("10\n"),
		}, 0, ""},
		"v1 hierarchical limit": {fstest.MapFS{
			"proc/self/cgroup": file("4:memory:/x\n"),
			"sys/fs/cgroup/memory/x/memory.limit_in_bytes": file("9223372036854771712\n"),
			"sys/fs/cgroup/memory/x/memory.usage_in_bytes": file("300\n"),
			"sys/fs/cgroup/memory/x/memory.stat":           file("hierarchical_memory_limit 1000\ntotal_inactive_file 50\n"),
		}, 750, "of cgroup /x (cgroup v1)"},
		"v1 host path, container's root": {fstest.MapFS{
			"proc/self/cgroup":                           file("9:memory,hugetlb:/docker/abc\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("1000\n"),
			"sys/fs/cgroup/memory/memory.usage_in_bytes": file("100\n"),
		}, 900, "of cgroup / (cgroup v1)"},
		"v1 and v2, the tighter": {fstest.MapFS{
			"proc/self/cgroup":                           file("4:memory:/\n0::/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("1000\n"),
			"sys/fs/cgroup/memory/memory.usage_in_bytes": file("100\n"),
			"sys/fs/cgroup/memory.max":                   file("800\n"),
		}, 800, "of cgroup / (cgroup v2)"},
		"no /proc": {fstest.MapFS{}, 0, ""},
	} {
		t.Run(name, func(t *testing.T) {
			avail, source, ok := cgroupAvailable(tc.fsys)
			assert.Equal(t, tc.source != "", ok, "a limit found")
			assert.Equal(t, tc.want, avail)
			if tc.source != "" {
				assert.Contains(t, source, tc.source)
			}
		})
	}
}

// With a cgroup that sets no limit, available is the machine's figure; and
// on this machine, the real files read through sysFS give a figure no
// larger than meminfo's.
func TestAvailableWithoutACgroupLimit(t *testing.T) {
	setSysFS(t, fstest.MapFS{
		"proc/meminfo":             file(meminfo16G),
		"proc/self/cgroup":         file("0::/\n"),
		"sys/fs/cgroup/memory.max": file("max\n"),
	})
	avail, source := available()
	assert.Equal(t, uint64(16<<30), avail)
	assert.Equal(t, "MemAvailable + SwapFree in /proc/meminfo", source)
}
