package mp

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Several goroutines receive with Recv, most with deadlines shorter than
// a round trip, while others call and a sender asks for messages of sizes
// from a few bytes to more than the pipe holds, with a Messages buffer of
// one, so that messages queue for the deliverer. Every message comes
// once, each receiver's share in order, and no receive waits for a
// message nobody reads: restFor is an hour, so a receiver left waiting
// beside an unarmed pipe hangs, and the test fails at its deadline.
func TestRecvManyReceiversDeadlinesCallsAndLargeMessages(t *testing.T) {
	setForTest(t, &restFor, time.Hour)
	for _, off := range []bool{true, false} {
		name := map[bool]string{true: "polling off", false: "polling on"}[off]
		t.Run(name, func(t *testing.T) {
			setSpinOff(t, off)
			recvStress(t, 4, 2000)
		})
	}
}

func recvStress(t *testing.T, receivers, n int) {
	p := startTest(t, Options{MessageBuffer: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// allIn ends once every message was received: the receivers still
	// waiting then return.
	allIn, everyOne := context.WithCancel(ctx)
	defer everyOne()
	var received atomic.Int64
	var mu sync.Mutex
	seen := make([]int, n)
	var wg sync.WaitGroup
	var gaveUp atomic.Int64
	for r := range receivers {
		wg.Go(func() {
			last := -1
			for received.Load() < int64(n) {
				d := time.Duration(rand.IntN(200)) * time.Microsecond
				if r == 0 {
					d = time.Minute // one receiver that waits as long as it takes
				}
				rctx, rcancel := context.WithTimeout(allIn, d)
				m, err := p.Recv(rctx)
				rcancel()
				if allIn.Err() != nil && ctx.Err() == nil {
					if err == nil {
						t.Errorf("receiver %d got a message after the last one", r)
					}
					return
				}
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
					gaveUp.Add(1)
					continue
				}
				if !assert.NoError(t, err, "receiver %d after %d of %d messages", r, received.Load(), n) {
					cancel()
					return
				}
				k, err := m.Params.Int("k")
				assert.NoError(t, err) // a receiver's goroutine: assert, not require
				assert.Greater(t, k, last, "receiver %d gets its share in order", r)
				last = k
				mu.Lock()
				seen[k]++
				mu.Unlock()
				if received.Add(1) == int64(n) {
					everyOne()
				}
			}
		})
	}
	stopCalls := callWithDeadlines(t, ctx, p)
	sendMixedEchoes(t, ctx, p, n)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	stopCalls()
	if ctx.Err() != nil {
		p.Close() // ends the receivers still waiting
		<-done
		t.Fatalf("%d of %d messages received within a minute", received.Load(), n)
	}
	p.CloseSend()
	_, err := p.Recv(ctx)
	require.Equal(t, io.EOF, err, "nothing more once every message was received")
	for k, c := range seen {
		require.Equal(t, 1, c, "message %d received once", k)
	}
	t.Logf("%d receives gave up", gaveUp.Load())
}

// callWithDeadlines makes Calls from two goroutines, each with a deadline
// under 300 µs, until the returned function is called (which waits for
// them).
func callWithDeadlines(t *testing.T, ctx context.Context, p *Process) (stop func()) {
	done := make(chan struct{})
	var calls sync.WaitGroup
	for range 2 {
		calls.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				cctx, ccancel := context.WithTimeout(ctx, time.Duration(rand.IntN(300))*time.Microsecond)
				_, err := p.Call(cctx, "echo", Params{"i": i})
				ccancel()
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					assert.NoError(t, err)
					return
				}
			}
		})
	}
	return func() { close(done); calls.Wait() }
}

// sendMixedEchoes sends n echo messages numbered k, most of 8 bytes, some
// of up to 5,000 and one in fifty of 100–200 kB (more than the pipe holds).
func sendMixedEchoes(t *testing.T, ctx context.Context, p *Process, n int) {
	for k := range n {
		size := 8
		switch rand.IntN(50) {
		case 0:
			size = 100_000 + rand.IntN(100_000)
		case 1, 2, 3:
			size = rand.IntN(5000)
		}
		require.NoError(t, p.Send(ctx, "echo", Params{"k": k, "pad": make([]byte, size)}))
	}
}

// BenchmarkRecvBurst receives bursts of 100 small messages with Recv,
// MessageBuffer 4, so that messages queue for the deliverer; stalls/1000
// counts receives that waited 0.9 ms or more (a message nobody read until
// restFor had passed, typically).
func BenchmarkRecvBurst(b *testing.B) {
	p := startBench(b, Options{Env: benchEnv(), MessageBuffer: 4})
	ctx := context.Background()
	stalls, n := 0, 0
	for b.Loop() {
		if err := p.Send(ctx, "burst", Params{"n": 100, "size": 8}); err != nil {
			b.Fatal(err)
		}
		for range 100 {
			t0 := time.Now()
			if _, err := p.Recv(ctx); err != nil {
				b.Fatal(err)
			}
			if time.Since(t0) >= 900*time.Microsecond {
				stalls++
			}
			n++
		}
	}
	b.ReportMetric(float64(stalls)/float64(n)*1000, "stalls/1000")
}
