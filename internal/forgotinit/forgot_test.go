package forgotinit

// This package deliberately has no TestMain: a test binary that starts a
// backend without calling mp.Init first. The backend is this test binary
// started again, which runs the tests again, this one included, as a
// frontend would, until it reaches the library.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type nothing struct{ *mp.Backend }

var kind = mp.NewKind("Forgetful", func(b *mp.Backend) *nothing { return &nothing{b} })

// Fault: a test binary without a TestMain that calls mp.Init starts a
// backend after creating a named segment. In the child the test runs again
// and reaches shm.Create first: the child must stop there, leaving no
// segment of its own, and Start must fail with ErrNoInit (not
// ErrBackendDied) and a hint that fits a test binary.
func TestForgottenInitInATestBinaryLeavesNothing(t *testing.T) {
	// A prefix of this run's own, which the child inherits (a child that
	// got this far would otherwise make one of its own, and hide).
	prefix := os.Getenv("MP_SHM_PREFIX")
	if !strings.HasPrefix(prefix, "mp-forgot") {
		tag := make([]byte, 4)
		rand.Read(tag)
		prefix = "mp-forgot" + hex.EncodeToString(tag) + "-"
	}
	t.Setenv("MP_SHM_PREFIX", prefix)
	t.Cleanup(func() { // whatever the outcome, leave nothing
		entries, _ := os.ReadDir("/dev/shm")
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				os.Remove("/dev/shm/" + e.Name())
			}
		}
	})

	a, err := shm.Create[float64]("table", 4)
	require.NoError(t, err)
	defer a.Unlink()
	defer a.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := kind.Start(ctx, mp.Options{Name: "forgetful"})
	if err == nil {
		p.Close()
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, mp.ErrNoInit)
	assert.NotErrorIs(t, err, mp.ErrBackendDied)
	assert.ErrorContains(t, err, "add func TestMain(m *testing.M) { mp.Init(); os.Exit(m.Run()) } to the package's tests")

	var ours []string
	entries, err := os.ReadDir("/dev/shm")
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			ours = append(ours, e.Name())
		}
	}
	assert.Equal(t, []string{a.Name()}, ours, "the child left a segment of its own")
}
