package mp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An idle process uses no measurable CPU on either side: polling its pipes
// stops a moment after the last message. Measured over two seconds after a
// burst of calls and messages (which makes both sides poll: the Call reads
// its reply, the reader goroutine the messages), the backend and this whole
// test process must each stay under 1% (20 ms; /proc counts in ticks of
// 10 ms).
func TestIdleProcessUsesNoCPU(t *testing.T) {
	p := startTest(t, Options{})
	ctx := context.Background()
	for range 100 {
		_, err := p.Call(ctx, "echo", nil)
		require.NoError(t, err)
		require.NoError(t, p.Send(ctx, "echo", nil))
		<-p.Messages()
	}
	before, frontBefore := procCPU(p.Pid()), selfCPU()
	time.Sleep(2 * time.Second) // the measurement's period, not a synchronization
	used, frontUsed := procCPU(p.Pid())-before, selfCPU()-frontBefore
	assert.Less(t, used, 20*time.Millisecond, "idle backend used %v of CPU in 2 s", used)
	assert.Less(t, frontUsed, 20*time.Millisecond, "the frontend used %v of CPU in 2 s with its process idle", frontUsed)
}
