package mp

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/spin"
)

// TestMessagePipeHandOffsUnderRandomSplits with the messages received by
// two Recv goroutines, with deadlines from 20 us to a second, instead of
// Messages; restFor is an hour, so a receiver left waiting beside an
// unarmed pipe hangs. Every message comes once, each receiver's share in
// order, then io.EOF.
func TestRecvUnderRandomSplits(t *testing.T) {
	setForTest(t, &restFor, time.Hour)
	for _, off := range []bool{true, false} {
		setForTest(t, &spin.Off, off)
		recvUnderRandomSplits(t)
	}
}

func recvUnderRandomSplits(t *testing.T) {
	const goroutines, calls, receivers = 3, 150, 2
	p, w := readingProcess(t)
	cmdR, cmdW, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { cmdR.Close() })
	p.conn.in = newFrameWriter(cmdW)

	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	var sent int
	backend := randomSplitBackend(rng, cmdR, w, &sent)
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
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				timeout := []time.Duration{50 * time.Microsecond, time.Millisecond, time.Second}[(g+i)%3]
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				r, err := p.Call(ctx, "echo", Params{"g": g, "i": i})
				cancel()
				if err != nil {
					assert.ErrorIs(t, err, context.DeadlineExceeded)
					continue
				}
				rg, _ := r.Params.Int("g")
				ri, _ := r.Params.Int("i")
				assert.Equal(t, []int{g, i}, []int{rg, ri}, "the reply of another call")
			}
		})
	}
	requireWithin(t, 2*time.Minute, wg.Wait)
	p.conn.in.close()
	select {
	case err := <-backend:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the fake backend is still writing: nobody reads the pipe")
	}
	p.cmd.Process.Kill()
	requireWithin(t, 10*time.Second, recvs.Wait)
	require.Len(t, seen, sent, "every message received")
	for seq, n := range seen {
		require.Equal(t, 1, n, "message %d received once", seq)
	}
}
