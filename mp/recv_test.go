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

// recvBurst asks the backend for n messages of size padding bytes each and
// receives them with Recv, checking their order.
func recvBurst(t *testing.T, p *Process, n, size int, stop bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Send(ctx, "burst", Params{"n": n, "size": size, "stop": stop}))
	for want := range n {
		m, err := p.Recv(ctx)
		require.NoError(t, err, "message %d of %d", want, n)
		require.Equal(t, "burst", m.Command)
		i, err := m.Params.Int("i")
		require.NoError(t, err)
		require.Equal(t, want, i, "messages in the order sent")
	}
}

// Recv gets every message in order, small ones and ones larger than the
// pipe's buffer (which the reader goroutine reads), while another
// goroutine's Calls read the same pipe for their replies; then io.EOF,
// again and again, once the backend has exited.
func TestRecvGetsEveryMessageInOrderBesideCalls(t *testing.T) {
	p := startTest(t, Options{})
	stop := make(chan struct{})
	var calls sync.WaitGroup
	calls.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-stop:
				assert.Positive(t, n, "calls made beside the receives")
				return
			default:
			}
			_, err := p.Call(context.Background(), "echo", Params{"n": n})
			if !assert.NoError(t, err) {
				return
			}
		}
	})
	recvBurst(t, p, 3000, 8, false)
	recvBurst(t, p, 20, 200_000, false)
	close(stop)
	calls.Wait()
	recvBurst(t, p, 100, 8, true)
	for range 2 {
		_, err := p.Recv(context.Background())
		require.Equal(t, io.EOF, err, "the backend has stopped and everything was received")
	}
	require.NoError(t, p.Close())
}

// A Recv whose ctx ends returns the ctx's cause, and loses nothing: what
// it read from the pipe before giving up goes to the next receive. Each
// message here is received with deadlines shorter than a round trip,
// again until one gets it: every message comes once, in order.
func TestRecvWhoseCtxEndsLosesNothing(t *testing.T) {
	p := startTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	_, err := p.Recv(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "recv", e.Op)

	gaveUp := 0
	for k := range 300 {
		require.NoError(t, p.Send(context.Background(), "echo", Params{"k": k}))
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Microsecond)
			m, err := p.Recv(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				gaveUp++
				continue
			}
			require.NoError(t, err)
			got, err := m.Params.Int("k")
			require.NoError(t, err)
			require.Equal(t, k, got, "each message once, in order")
			break
		}
	}
	t.Logf("%d receives gave up while their message was on its way", gaveUp)
}

// Recv and Messages read one stream: each message goes to one of them,
// and each reader sees its share in order.
func TestRecvBesideMessages(t *testing.T) {
	p := startTest(t, Options{})
	const n = 3000
	require.NoError(t, p.Send(context.Background(), "burst", Params{"n": n, "size": 8, "stop": true}))
	var mu sync.Mutex
	seen := map[int]int{}
	take := func(who string, last *int, m Message) { // on two goroutines: assert, not require
		i, err := m.Params.Int("i")
		assert.NoError(t, err)
		assert.Greater(t, i, *last, "%s gets its share in order", who)
		*last = i
		mu.Lock()
		seen[i]++
		mu.Unlock()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		last := -1
		for m := range p.Messages() {
			take("Messages", &last, m)
		}
	})
	last := -1
	for {
		m, err := p.Recv(context.Background())
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		take("Recv", &last, m)
	}
	wg.Wait()
	require.Len(t, seen, n, "every message received")
	for i, k := range seen {
		require.Equal(t, 1, k, "message %d received once", i)
	}
}

// BenchmarkRecvRoundTrip is BenchmarkRoundTrip with the message received
// by Recv, which reads the pipe on the receiving goroutine.
func BenchmarkRecvRoundTrip(b *testing.B) { roundTrip(b, (*Process).Recv) }
