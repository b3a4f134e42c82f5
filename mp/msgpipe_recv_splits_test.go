package mp

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMessagePipeHandOffsUnderRandomSplits with the messages received by
// two Recv goroutines, with deadlines from 20 us to a second, instead of
// Messages; restFor is an hour, so a receiver left waiting beside an
// unarmed pipe hangs. Every message comes once, each receiver's share in
// order, then io.EOF.
func TestRecvUnderRandomSplits(t *testing.T) {
	setForTest(t, &restFor, time.Hour)
	for _, off := range []bool{true, false} {
		setSpinOff(t, off)
		recvUnderRandomSplits(t)
	}
}

func recvUnderRandomSplits(t *testing.T) {
	const goroutines, calls, receivers = 3, 150, 2
	p, backend, sent := withRandomSplitBackend(t, 2)
	var mu sync.Mutex
	seen := map[int]int{}
	var recvs sync.WaitGroup
	for r := range receivers {
		recvs.Go(func() {
			last := -1
			for i := 0; ; i++ {
				timeout := []time.Duration{20 * time.Microsecond, 300 * time.Microsecond, time.Second}[(r+i)%3]
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				m, err := p.Recv(ctx)
				cancel()
				if err == io.EOF {
					return
				}
				if errors.Is(err, context.DeadlineExceeded) {
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				seq, err := m.Params.Int("seq")
				assert.NoError(t, err)
				assert.Greater(t, seq, last, "receiver %d's share in order", r)
				last = seq
				mu.Lock()
				seen[seq]++
				mu.Unlock()
			}
		})
	}
	callThroughRandomSplits(t, p, backend, goroutines, calls)
	requireWithin(t, 10*time.Second, recvs.Wait)
	require.Len(t, seen, *sent, "every message received")
	for seq, n := range seen {
		require.Equal(t, 1, n, "message %d received once", seq)
	}
}
