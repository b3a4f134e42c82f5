package proctest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blockInGoroutinesTest blocks on ch: a function for GoroutinesIn to find.
func blockInGoroutinesTest(ch chan struct{}) { <-ch }

// GoroutinesIn finds goroutines by the functions and the state their
// stacks show, and counts each once.
func TestGoroutinesIn(t *testing.T) {
	ch := make(chan struct{})
	started := make(chan struct{}, 2)
	for range 2 {
		go func() { started <- struct{}{}; blockInGoroutinesTest(ch) }()
	}
	<-started
	<-started
	require.Eventually(t, func() bool { return GoroutinesIn("blockInGoroutinesTest", "[chan receive") == 2 },
		10*time.Second, time.Millisecond)
	assert.Equal(t, 2, GoroutinesIn("blockInGoroutinesTest"))
	assert.Zero(t, GoroutinesIn("blockInGoroutinesTest", "[IO wait"))
	close(ch)
}
