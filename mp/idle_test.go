package mp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An idle backend uses no measurable CPU: polling its pipe stops a moment
// after its last message. Measured over two seconds after a burst of calls
// (which makes it poll), it must stay under 1% (20 ms; /proc counts in
// ticks of 10 ms).
func TestIdleBackendUsesNoCPU(t *testing.T) {
	p := startTest(t, Options{})
	for range 100 {
		_, err := p.Call(context.Background(), "echo", nil)
		require.NoError(t, err)
	}
	before := procCPU(p.Pid())
	time.Sleep(2 * time.Second) // the measurement's period, not a synchronization
	used := procCPU(p.Pid()) - before
	assert.Less(t, used, 20*time.Millisecond, "idle backend used %v of CPU in 2 s", used)
}
