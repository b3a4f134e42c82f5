package mp

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: Options.StopTimeout of math.MaxInt64, a user's "wait as long as
// it takes". The backend's grace after SIGTERM is StopTimeout + 1 s, which
// overflowed to a negative duration; the backend took that as unset and
// used the default, so that a handler deaf to SIGTERM (after Signal, or the
// parent-death signal) was cut off 4 s later, not "StopTimeout + 1 s" as
// the option's doc says. The grace saturates instead.
func TestHugeStopTimeoutKeepsItsGrace(t *testing.T) {
	for _, stop := range []time.Duration{math.MaxInt64, math.MaxInt64 - time.Second/2, time.Hour} {
		var grace string
		for _, kv := range backendEnv("Test", Options{Name: "huge"}, "1:2", stop, 1) {
			if v, ok := strings.CutPrefix(kv, envGrace+"="); ok {
				grace = v
			}
		}
		d, err := time.ParseDuration(grace)
		require.NoError(t, err, "MP_GRACE=%q", grace)
		assert.GreaterOrEqual(t, d, stop, "StopTimeout %v: MP_GRACE=%s", stop, grace)
	}
}
