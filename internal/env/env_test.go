package env

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBool(t *testing.T) {
	for _, c := range []struct {
		val     string
		want    bool
		wantErr bool
	}{
		{"", false, false}, {"1", true, false}, {"true", true, false}, {"TRUE", true, false},
		{"0", false, false}, {"false", false, false}, {"f", false, false},
		{"yes", false, true}, {"2", false, true},
	} {
		t.Setenv("MP_X", c.val)
		got, err := Bool("MP_X", false)
		assert.Equal(t, c.want, got, "MP_X=%q", c.val)
		if c.wantErr {
			assert.ErrorContains(t, err, `MP_X="`+c.val+`": want a boolean`)
		} else {
			assert.NoError(t, err, "MP_X=%q", c.val)
		}
	}
}

func TestChoice(t *testing.T) {
	t.Setenv("MP_X", "WARN")
	v, err := Choice("MP_X", "info", "debug", "info", "warn")
	assert.NoError(t, err)
	assert.Equal(t, "warn", v)
	t.Setenv("MP_X", "nonsense")
	v, err = Choice("MP_X", "info", "debug", "info", "warn")
	assert.EqualError(t, err, `MP_X="nonsense": want one of debug, info, warn`)
	assert.Equal(t, "info", v)
}

func TestDuration(t *testing.T) {
	t.Setenv("MP_X", "1.5s")
	d, err := Duration("MP_X", time.Second)
	assert.NoError(t, err)
	assert.Equal(t, 1500*time.Millisecond, d)
	for _, bad := range []string{"-1s", "soon", "3"} {
		t.Setenv("MP_X", bad)
		d, err = Duration("MP_X", time.Second)
		assert.Error(t, err, bad)
		assert.Equal(t, time.Second, d)
	}
}

// TestCheckReportsEveryVariable: an unreadable value of any of the
// project's variables is reported, not only of those the library reads
// (MP_FAST=yes was once silently taken as false while MP_LOG_TIME=yes was
// reported).
func TestCheckReportsEveryVariable(t *testing.T) {
	for _, v := range Vars {
		t.Setenv(v.Name, "")
	}
	assert.Empty(t, Check())
	t.Setenv("MP_FAST", "yes")
	t.Setenv("MP_LOG_TIME", "yes")
	t.Setenv("MP_SPIN", "on")
	t.Setenv("MP_LOG_LEVEL", "loud")
	var got []string
	for _, err := range Check() {
		got = append(got, err.Error())
	}
	assert.Equal(t, []string{
		`MP_FAST="yes": want a boolean (1, true, 0, false)`,
		`MP_LOG_LEVEL="loud": want one of debug, info, warn, warning, error`,
		`MP_LOG_TIME="yes": want a boolean (1, true, 0, false)`,
		`MP_SPIN="on": want a boolean (1, true, 0, false)`,
	}, got)
}
