package mp

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// useShmPrefix gives the test its own segment prefix, and checks at the end
// that no segment with it is left in /dev/shm.
func useShmPrefix(t testing.TB) string {
	prefix := "mp-u" + strconv.Itoa(os.Getpid()) + strings.ReplaceAll(t.Name(), "/", "_")
	prefix = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, prefix)
	if len(prefix) > 60 {
		prefix = prefix[:60]
	}
	prefix += "-"
	t.Setenv("MP_SHM_PREFIX", prefix)
	t.Cleanup(func() {
		left, _ := filepath.Glob(filepath.Join(shmDir, prefix+"*"))
		for _, f := range left {
			os.Remove(f)
		}
		assert.Empty(t, left, "segments left in /dev/shm")
	})
	return prefix
}

func TestSegmentNames(t *testing.T) {
	useShmPrefix(t)
	for _, tc := range []struct {
		name, rule string
	}{
		{"", "the name is empty"},
		{"a/b", "contains '/'"},
		{"..", `contains ".."`},
		{"a..b", `contains ".."`},
		{"a\x00b", "contains a NUL byte"},
		{strings.Repeat("x", 201), "201 bytes, more than 200"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			_, err := CreateArray[float64](tc.name, 2)
			require.ErrorIs(t, err, ErrBadName)
			assert.Contains(t, err.Error(), tc.rule)
		})
	}
	seg, err := SegmentName(strings.Repeat("x", 200))
	require.NoError(t, err, "200 bytes is allowed")
	pid, ok := SegmentOwner(seg)
	assert.True(t, ok)
	assert.Equal(t, os.Getpid(), pid)

	// The longest prefix and the longest name do not fit in a file name.
	t.Setenv("MP_SHM_PREFIX", "mp-"+strings.Repeat("p", 61))
	_, err = CreateArray[uint8](strings.Repeat("x", 200), 1)
	require.ErrorIs(t, err, ErrBadName)
	assert.Contains(t, err.Error(), "more than the 255 a file name can have")
}

func TestSegmentPrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"", true}, {"mp-", true}, {"mp-ts12-", true},
		{"other-", false}, {"mp-a/b-", false}, {"mp-" + strings.Repeat("x", 70), false},
		{"mp-2024-", false}, {"mp-run-7-", false}, {"mp-7a-", true},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			t.Setenv("MP_SHM_PREFIX", tc.prefix)
			_, err := SegmentPrefix()
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrBadName)
			}
		})
	}
}

func TestSegmentOwner(t *testing.T) {
	for _, tc := range []struct {
		seg  string
		pid  int
		ours bool
	}{
		{"mp-42-a", 42, true},
		{"mp-42-my-array-2", 42, true},
		{"mp-ts1a2b-42-x", 42, true},
		{"mp-42-", 0, false},
		{"mp-x-y", 0, false},
		{"other-42-a", 0, false},
		{"mp-0-a", 0, false},
	} {
		pid, ok := SegmentOwner(tc.seg)
		assert.Equal(t, tc.ours, ok, tc.seg)
		if ok {
			assert.Equal(t, tc.pid, pid, tc.seg)
		}
	}
}

func TestSharedArrayCreateOpenCloseUnlink(t *testing.T) {
	prefix := useShmPrefix(t)
	a, err := CreateArray[float64]("grid", 3, 4)
	require.NoError(t, err)
	assert.Equal(t, prefix+strconv.Itoa(os.Getpid())+"-grid", a.Name())
	assert.Equal(t, ArraySpec{Name: a.Name(), DType: "float64", Shape: []int{3, 4}}, a.Spec())
	assert.True(t, a.Owner())
	assert.Equal(t, 12, a.Len())
	assert.Equal(t, make([]float64, 12), a.Data(), "a new array is zeroed")
	info, err := os.Stat(filepath.Join(shmDir, a.Name()))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	// A second mapping, as a backend would make it, sees the same memory.
	b, err := OpenArray[float64](a.Name(), 3, 4)
	require.NoError(t, err)
	assert.False(t, b.Owner())
	a.Data()[a.Index(2, 1)] = 7
	assert.Equal(t, 7.0, b.Data()[9])
	b.Fill(3)
	assert.Equal(t, 36.0, a.Sum())

	assert.ErrorIs(t, b.Unlink(), ErrNotOwner)
	require.NoError(t, b.Close())
	assert.ErrorIs(t, b.Close(), ErrClosed)
	assert.Nil(t, b.Data())

	require.NoError(t, a.Unlink())
	assert.ErrorIs(t, a.Unlink(), ErrUnlinked, "double unlink")
	_, err = OpenArray[float64](a.Name(), 3, 4)
	assert.ErrorIs(t, err, ErrNotFound, "open after unlink")
	assert.Equal(t, 3.0, a.Data()[0], "the mapping outlives the name")
	require.NoError(t, a.Close())
}

func TestSharedArrayErrors(t *testing.T) {
	useShmPrefix(t)
	a, err := CreateArray[float32]("m", 10, 10)
	require.NoError(t, err)
	defer a.Close()
	defer a.Unlink()

	_, err = CreateArray[float32]("m", 10, 10)
	require.ErrorIs(t, err, ErrExists, "name collision")
	assert.Contains(t, err.Error(), a.Name())

	for _, tc := range []struct {
		what string
		open func() error
		want error
		msg  string
	}{
		{"same size, other type", func() error { _, err := OpenArray[int32](a.Name(), 10, 10); return err }, ErrMismatch,
			"holds float32 [10 10]"},
		{"other shape", func() error { _, err := OpenArray[float32](a.Name(), 100); return err }, ErrMismatch,
			"asked for float32 [100]"},
		{"other size", func() error { _, err := OpenArray[float64](a.Name(), 10, 10); return err }, ErrMismatch,
			"asked for float64 [10 10]"},
		{"missing", func() error { _, err := OpenArray[float32]("mp-1-nothing-here", 1); return err }, ErrNotFound, "mp-1-nothing-here"},
		{"not ours", func() error { _, err := OpenArray[float32]("somebody-else", 1); return err }, ErrBadName, "not a segment of ours"},
		{"bad dtype", func() error {
			_, err := OpenSpec(ArraySpec{Name: a.Name(), DType: "complex64", Shape: []int{1}})
			return err
		},
			ErrBadDType, `"complex64"`},
		{"zero dimension", func() error { _, err := CreateArray[uint8]("z", 3, 0); return err }, ErrBadShape, "below 1"},
		{"no dimension", func() error { _, err := CreateArray[uint8]("z"); return err }, ErrBadShape, "0 dimensions"},
		{"overflow", func() error { _, err := CreateArray[int64]("z", 1<<31, 1<<31, 1<<31); return err }, ErrBadShape, "too large"},
		{"copy length", func() error { return a.CopyFrom(make([]float32, 3)) }, ErrMismatch, "3 elements for 100"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			err := tc.open()
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestSharedArrayNoSpace(t *testing.T) {
	useShmPrefix(t)
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(shmDir, &st))
	free := int(st.Bavail * uint64(st.Bsize))
	_, err := CreateArray[uint8]("huge", free+1<<30)
	require.ErrorIs(t, err, ErrNoSpace)
	assert.Contains(t, err.Error(), "free in /dev/shm")
	// useShmPrefix's cleanup checks that nothing was left behind.
}

func TestSharedArrayTypes(t *testing.T) {
	useShmPrefix(t)
	for _, dtype := range []string{"float32", "float64", "int32", "int64", "uint8"} {
		t.Run(dtype, func(t *testing.T) {
			a, err := CreateSpec("t-"+dtype, dtype, 2, 3, 4)
			require.NoError(t, err)
			assert.Equal(t, dtype, a.Spec().DType)
			b, err := OpenSpec(a.Spec())
			require.NoError(t, err)
			assert.Equal(t, 24, b.Len())
			require.NoError(t, b.Close())
			require.NoError(t, a.Unlink())
			require.NoError(t, a.Close())
		})
	}
	// On error the interface itself is nil (no typed-nil *SharedArray
	// hiding inside), so arr == nil checks work.
	arr, err := CreateSpec("x", "float16", 1)
	assert.ErrorIs(t, err, ErrBadDType)
	assert.True(t, arr == nil, "unknown dtype: nil Array")
	arr, err = CreateSpec("bad/name", "float64", 1)
	assert.ErrorIs(t, err, ErrBadName)
	assert.True(t, arr == nil, "CreateArray error: nil Array, got %#v", arr)
	arr, err = OpenSpec(ArraySpec{Name: "mp-1-absent", DType: "int32", Shape: []int{1}})
	assert.ErrorIs(t, err, ErrNotFound)
	assert.True(t, arr == nil, "OpenArray error: nil Array, got %#v", arr)
}

func TestSharedArrayWritesGoBothWays(t *testing.T) {
	useShmPrefix(t)
	a, err := CreateArray[int32]("both", 8)
	require.NoError(t, err)
	b, err := OpenArray[int32](a.Name(), 8)
	require.NoError(t, err)
	require.NoError(t, a.CopyFrom([]int32{1, 2, 3, 4, 5, 6, 7, 8}))
	assert.Equal(t, []int32{1, 2, 3, 4, 5, 6, 7, 8}, b.Data(), "creator → opener")
	b.Data()[7] = -100
	assert.Equal(t, int32(28-100), a.Sum(), "opener → creator")

	require.NoError(t, b.Close())
	err = b.CopyFrom(make([]int32, 8))
	require.ErrorIs(t, err, ErrClosed)
	assert.Contains(t, err.Error(), a.Name())
	assert.Equal(t, int32(-72), a.Sum(), "a closed view changes nothing")
	require.NoError(t, a.Unlink())
	require.NoError(t, a.Close())
}

func TestSharedOpsAllLengths(t *testing.T) {
	// Fill and Sum have an unrolled body and a tail: every length from 0 to
	// 20 exercises both.
	for n := range 21 {
		s := make([]int64, n)
		fill(s, 2)
		for i, v := range s {
			require.Equal(t, int64(2), v, "n=%d i=%d", n, i)
		}
		for i := range s {
			s[i] = int64(i + 1)
		}
		assert.Equal(t, int64(n*(n+1)/2), sum(s), "n=%d", n)
	}
}

func TestFillLargeAllOffsetsAndLengths(t *testing.T) {
	// fillLarge splits s into a head, a non-temporal body and a tail; every
	// start offset and a range of lengths must come out exactly filled,
	// with nothing written outside s.
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 200, 1000, 4099} {
		for off := range 9 {
			buf := make([]uint8, n+off+16)
			s := buf[off : off+n]
			fillLarge(s, 0xAB, 1)
			for i, b := range buf {
				want := uint8(0)
				if i >= off && i < off+n {
					want = 0xAB
				}
				require.Equal(t, want, b, "n=%d off=%d i=%d", n, off, i)
			}
			f := make([]float64, n)
			fillLarge(f, 2.5, 8)
			for i, v := range f {
				require.Equal(t, 2.5, v, "float64 n=%d i=%d", n, i)
			}
			g := make([]float32, n+1)[1:]
			fillLarge(g, -1.5, 4)
			for i, v := range g {
				require.Equal(t, float32(-1.5), v, "float32 n=%d i=%d", n, i)
			}
		}
	}
}

func TestAnonArray(t *testing.T) {
	a, err := CreateAnonArray[float64]("anon", 4, 4)
	require.NoError(t, err)
	require.NotNil(t, a.File())
	a.Fill(2)
	b, err := OpenArrayFile[float64](a.File(), 4, 4)
	require.NoError(t, err)
	assert.Equal(t, 32.0, b.Sum())
	_, err = OpenArrayFile[float32](a.File(), 4, 4)
	assert.ErrorIs(t, err, ErrMismatch, "other type")
	_, err = OpenArrayFile[float64](a.File(), 4, 5)
	assert.ErrorIs(t, err, ErrMismatch, "other shape")
	_, err = OpenArrayFile[float64](nil, 4, 4)
	assert.ErrorIs(t, err, os.ErrInvalid, "no file")
	require.NoError(t, a.Unlink(), "nothing to unlink: no name")
	require.NoError(t, b.Close())
	require.NoError(t, a.Close())
}
