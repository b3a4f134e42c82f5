package shm

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			_, err := Create[float64](tc.name, 2)
			require.ErrorIs(t, err, ErrBadName)
			assert.Contains(t, err.Error(), tc.rule)
			_, err = CreateAnon[float64](tc.name, 2)
			require.ErrorIs(t, err, ErrBadName, "anonymous arrays too")
		})
	}
	seg, err := SegmentName(strings.Repeat("x", 200))
	require.NoError(t, err, "200 bytes is allowed")
	_, pid, name, err := SplitSegment(seg)
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), pid)
	assert.Equal(t, strings.Repeat("x", 200), name)

	// The longest prefix and the longest name do not fit in a file name.
	t.Setenv(PrefixEnv, "mp-"+strings.Repeat("p", 60)+"-")
	_, err = Create[uint8](strings.Repeat("x", 200), 1)
	require.ErrorIs(t, err, ErrBadName)
	assert.Contains(t, err.Error(), "more than the 255 a file name can have")
}

func TestPrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"", true}, {"mp-", true}, {"mp-ts12-", true}, {"mp-7a-", true}, {"mp-run_7-x-", true},
		{"mp-x", false},   // no final '-': the PID would be glued to it
		{"other-", false}, // not ours
		{"mp", false}, {"mp--", false}, {"mp-a/b-", false}, {"mp-a.b-", false}, {"mp-a b-", false},
		{"mp-" + strings.Repeat("x", 61) + "-", false}, // 65 bytes
		{"mp-2024-", false}, {"mp-run-7-", false},      // an all-digit word reads as a PID
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			t.Setenv(PrefixEnv, tc.prefix)
			p, err := Prefix()
			if tc.ok {
				require.NoError(t, err)
				assert.True(t, strings.HasPrefix(p, DefaultPrefix))
				return
			}
			require.ErrorIs(t, err, ErrBadPrefix)
			assert.Contains(t, err.Error(), PrefixEnv+`="`+tc.prefix+`"`, "names the variable and its value")
			assert.Contains(t, err.Error(), `"mp-" followed by words`, "says what is allowed")
			assertShmPrefixOnce(t, err)
		})
	}
}

func TestPrefixSameForCreateAndOpen(t *testing.T) {
	// Fault: a bad MP_SHM_PREFIX (here "mp-x", without its final '-').
	// Create and Open refuse it alike, with the same words; a good one
	// works for both.
	useShmPrefix(t)
	a, err := Create[float64]("cfg", 2)
	require.NoError(t, err)
	defer a.Close()
	defer a.Unlink()

	t.Setenv(PrefixEnv, "mp-x")
	b, cerr := Create[float64]("cfg2", 2)
	if cerr == nil { // not to leave it behind when this test fails
		b.Close()
		b.Unlink()
	}
	require.ErrorIs(t, cerr, ErrBadPrefix)
	_, oerr := Open[float64](a.Name(), 2)
	require.ErrorIs(t, oerr, ErrBadPrefix)
	_, serr := SegmentName("cfg2")
	require.ErrorIs(t, serr, ErrBadPrefix)
	_, perr := Prefix()
	for _, err := range []error{cerr, oerr, serr} {
		assert.Contains(t, err.Error(), strings.TrimPrefix(perr.Error(), "shm: "))
	}

	// Whatever prefix Create accepts, Open accepts the names it makes.
	for _, p := range []string{"mp-", "mp-a-", "mp-a_1-b2-"} {
		t.Setenv(PrefixEnv, p)
		b, err := Create[int32]("round", 1)
		require.NoError(t, err, p)
		c, err := Open[int32](b.Name(), 1)
		require.NoError(t, err, p)
		assert.NoError(t, c.Close())
		assert.NoError(t, b.Close())
		assert.NoError(t, b.Unlink())
	}
}

func TestSplitSegment(t *testing.T) {
	for _, tc := range []struct {
		seg, prefix string
		pid         int
		name        string
	}{
		{"mp-42-a", "mp-", 42, "a"},
		{"mp-42-my-array-2", "mp-", 42, "my-array-2"},
		{"mp-ts1a2b-42-x", "mp-ts1a2b-", 42, "x"},
		{"mp-a-b-7-9", "mp-a-b-", 7, "9"},
		{"mp-42-", "", 0, ""},
		{"mp-x-y", "", 0, ""},
		{"mp-x.y-1-z", "", 0, ""},
		{"other-42-a", "", 0, ""},
		{"mp-0-a", "", 0, ""},
		{"mp-42-a..b", "", 0, ""},
	} {
		prefix, pid, name, err := SplitSegment(tc.seg)
		if tc.prefix == "" {
			assert.ErrorIs(t, err, ErrBadName, tc.seg)
			continue
		}
		require.NoError(t, err, tc.seg)
		assert.Equal(t, []any{tc.prefix, tc.pid, tc.name}, []any{prefix, pid, name}, tc.seg)
	}
}
