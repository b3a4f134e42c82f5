package shm

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestCreateOpenCloseUnlink(t *testing.T) {
	prefix := useShmPrefix(t)
	a, err := Create[float64]("grid", 3, 4)
	require.NoError(t, err)
	assert.Equal(t, prefix+strconv.Itoa(os.Getpid())+"-grid", a.Name())
	assert.Equal(t, Spec{Name: a.Name(), DType: "float64", Shape: []int{3, 4}}, a.Spec())
	assert.True(t, a.Owner())
	assert.Equal(t, 12, a.Len())
	assert.Equal(t, make([]float64, 12), a.Data(), "a new array is zeroed")
	info, err := os.Stat(filepath.Join(Dir, a.Name()))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	// A second mapping, as a backend would make it, sees the same memory.
	b, err := Open[float64](a.Name(), 3, 4)
	require.NoError(t, err)
	assert.False(t, b.Owner())
	a.Data()[a.Index(2, 1)] = 7
	assert.Equal(t, 7.0, b.Data()[9])
	require.NoError(t, b.Fill(3))
	s, err := a.Sum()
	require.NoError(t, err)
	assert.Equal(t, 36.0, s)

	assert.ErrorIs(t, b.Unlink(), ErrNotOwner)
	require.NoError(t, b.Close())
	assert.ErrorIs(t, b.Close(), ErrClosed)
	assert.Nil(t, b.Data())
	assert.Equal(t, 12, b.Len(), "the shape outlives the mapping")

	require.NoError(t, a.Unlink())
	assert.ErrorIs(t, a.Unlink(), ErrUnlinked, "double unlink")
	_, err = Open[float64](a.Name(), 3, 4)
	assert.ErrorIs(t, err, ErrNotFound, "open after unlink")
	assert.Equal(t, 3.0, a.Data()[0], "the mapping outlives the name")
	require.NoError(t, a.Close())
}

func TestErrors(t *testing.T) {
	useShmPrefix(t)
	a, err := Create[float32]("m", 10, 10)
	require.NoError(t, err)
	defer a.Close()
	defer a.Unlink()

	_, err = Create[float32]("m", 10, 10)
	require.ErrorIs(t, err, ErrExists, "name collision")
	assert.Contains(t, err.Error(), a.Name())
	assert.Contains(t, err.Error(), "a live process holds its lock", "says why it is not stale")

	for _, tc := range []struct {
		what string
		open func() error
		want error
		msg  string
	}{
		{"same size, other type", func() error { _, err := Open[int32](a.Name(), 10, 10); return err }, ErrMismatch,
			"holds float32 [10 10]"},
		{"other shape", func() error { _, err := Open[float32](a.Name(), 100); return err }, ErrMismatch,
			"asked for float32 [100]"},
		{"other size", func() error { _, err := Open[float64](a.Name(), 10, 10); return err }, ErrMismatch,
			"asked for float64 [10 10]"},
		{"missing", func() error { _, err := Open[float32]("mp-1-nothing-here", 1); return err }, ErrNotFound, "mp-1-nothing-here"},
		{"not ours", func() error { _, err := Open[float32]("somebody-else", 1); return err }, ErrBadName, "not a segment of ours"},
		{"bad dtype", func() error {
			_, err := OpenAny(Spec{Name: a.Name(), DType: "complex64", Shape: []int{1}})
			return err
		},
			ErrBadDType, `"complex64"`},
		{"zero dimension", func() error { _, err := Create[uint8]("z", 3, 0); return err }, ErrBadShape, "below 1"},
		{"no dimension", func() error { _, err := Create[uint8]("z"); return err }, ErrBadShape, "0 dimensions"},
		{"overflow", func() error { _, err := Create[int64]("z", 1<<31, 1<<31, 1<<31); return err }, ErrBadShape, "too large"},
		{"copy length", func() error { return a.CopyFrom(make([]float32, 3)) }, ErrMismatch, "3 elements for 100"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			err := tc.open()
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
			assertShmPrefixOnce(t, err)
		})
	}
}

// assertShmPrefixOnce checks that err's text starts with "shm: " and says
// it only once.
func assertShmPrefixOnce(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	assert.Regexp(t, `^shm: `, msg)
	assert.NotContains(t, msg[len("shm: "):], "shm: ", "prefix repeated")
	assert.NotContains(t, msg, "mp: ")
}

func TestNoSpace(t *testing.T) {
	useShmPrefix(t)
	setAvailable(t, ^uint64(0)) // /dev/shm's limit, not memory's (TestCreateBeyondMemory)
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(Dir, &st))
	free := int(st.Bavail * uint64(st.Bsize))
	_, err := Create[uint8]("huge", free+1<<30)
	require.ErrorIs(t, err, ErrNoSpace)
	assert.Contains(t, err.Error(), "free in /dev/shm")
	// useShmPrefix's cleanup checks that nothing was left behind.
}

func TestTypes(t *testing.T) {
	useShmPrefix(t)
	for _, dtype := range []string{"float32", "float64", "int32", "int64", "uint8"} {
		t.Run(dtype, func(t *testing.T) {
			a, err := CreateAny("t-"+dtype, dtype, 2, 3, 4)
			require.NoError(t, err)
			assert.Equal(t, dtype, a.Spec().DType)
			b, err := OpenAny(a.Spec())
			require.NoError(t, err)
			assert.Equal(t, 24, b.Len())
			require.NoError(t, b.Close())
			require.NoError(t, a.Unlink())
			require.NoError(t, a.Close())
		})
	}
	// On error the interface itself is nil (no typed-nil *Array hiding
	// inside), so arr == nil checks work.
	arr, err := CreateAny("x", "float16", 1)
	assert.ErrorIs(t, err, ErrBadDType)
	assert.True(t, arr == nil, "unknown dtype: nil AnyArray")
	arr, err = CreateAny("bad/name", "float64", 1)
	assert.ErrorIs(t, err, ErrBadName)
	assert.True(t, arr == nil, "Create error: nil AnyArray, got %#v", arr)
	arr, err = OpenAny(Spec{Name: "mp-1-absent", DType: "int32", Shape: []int{1}})
	assert.ErrorIs(t, err, ErrNotFound)
	assert.True(t, arr == nil, "Open error: nil AnyArray, got %#v", arr)
}

func TestWritesGoBothWays(t *testing.T) {
	useShmPrefix(t)
	a, err := Create[int32]("both", 8)
	require.NoError(t, err)
	b, err := Open[int32](a.Name(), 8)
	require.NoError(t, err)
	require.NoError(t, a.CopyFrom([]int32{1, 2, 3, 4, 5, 6, 7, 8}))
	assert.Equal(t, []int32{1, 2, 3, 4, 5, 6, 7, 8}, b.Data(), "creator → opener")
	require.NoError(t, b.Use(func(data []int32) { data[7] = -100 }))
	s, err := a.Sum()
	require.NoError(t, err)
	assert.Equal(t, int32(28-100), s, "opener → creator")

	require.NoError(t, b.Close())
	err = b.CopyFrom(make([]int32, 8))
	require.ErrorIs(t, err, ErrClosed)
	assert.Contains(t, err.Error(), a.Name())
	_, err = b.Sum()
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, b.Fill(1), ErrClosed)
	assert.ErrorIs(t, b.Use(func([]int32) { t.Error("Use ran after Close") }), ErrClosed)
	s, err = a.Sum()
	require.NoError(t, err)
	assert.Equal(t, int32(-72), s, "a closed view changes nothing")
	require.NoError(t, a.Unlink())
	require.NoError(t, a.Close())
}

func TestAnon(t *testing.T) {
	a, err := CreateAnon[float64]("anon", 4, 4)
	require.NoError(t, err)
	require.NotNil(t, a.File())
	require.NoError(t, a.Fill(2))
	b, err := OpenFile[float64](a.File(), 4, 4)
	require.NoError(t, err)
	s, err := b.Sum()
	require.NoError(t, err)
	assert.Equal(t, 32.0, s)
	_, err = OpenFile[float32](a.File(), 4, 4)
	assert.ErrorIs(t, err, ErrMismatch, "other type")
	_, err = OpenFile[float64](a.File(), 4, 5)
	assert.ErrorIs(t, err, ErrMismatch, "other shape")
	_, err = OpenFile[float64](nil, 4, 4)
	assert.ErrorIs(t, err, os.ErrInvalid, "no file")
	require.NoError(t, a.Unlink(), "nothing to unlink: no name")
	require.NoError(t, b.Close())
	require.NoError(t, a.Close())
}
