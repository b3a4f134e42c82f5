package busy

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The count is faked; each look is Every apart.
func TestMachine(t *testing.T) {
	var fake atomic.Int64
	old := Preemptions
	Preemptions = fake.Load
	t.Cleanup(func() { Preemptions = old; Forget() })
	Forget()
	look := func(preempted int64) bool {
		fake.Add(preempted)
		Expire()
		return Machine()
	}
	assert.False(t, look(7), "the first look only reads the count")
	assert.False(t, look(0), "quiet")
	assert.False(t, look(1), "preempted once: still quiet")
	assert.True(t, look(5), "preempted 5 times since the last look")
	assert.True(t, Machine(), "busy until the next look")
	assert.False(t, look(0), "quiet again")
}
