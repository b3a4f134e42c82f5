package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBurstSize: -scale-messages is spread over the workers, rounded up,
// so that every N sends at least the total asked for; without it, each
// worker sends messagesPerWorker.
func TestBurstSize(t *testing.T) {
	assert.Equal(t, messagesPerWorker, burstSize(0, 7))
	assert.Equal(t, 2_000_000, burstSize(2_000_000, 1))
	assert.Equal(t, 20_000, burstSize(2_000_000, 100))
	assert.Equal(t, 667, burstSize(2000, 3), "rounded up: 3 × 667 ≥ 2,000")
	assert.Equal(t, 1, burstSize(10, 1000), "at least one message each")
}
