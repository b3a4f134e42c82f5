package mp

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// brk10Sender is a backend's connection whose Sends need credits from a
// real eventfd (window of them at first), writing to a pipe that rd reads;
// give hands the eventfd k more credits, as the frontend does.
func brk10Sender(t *testing.T, window int) (c *backConn, rd *frameReader, give func(k int)) {
	outR, outW, err := os.Pipe()
	require.NoError(t, err)
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(t, err)
	ef := os.NewFile(uintptr(efd), "credits")
	c = newBackConn(nil, outW, ef, nil, window)
	c.serve()
	t.Cleanup(func() {
		c.credits.close() // frees a Send left waiting by a failure
		c.out.close()
		outR.Close()
	})
	return c, newFrameReader(outR, MaxFrameSize), func(k int) { require.NoError(t, giveCredits(efd, k)) }
}

// Provokes: several goroutines Send in bursts (so that most messages are
// gathered: each comes within gatherWindow of the last write) with two
// credits between them, while another goroutine calls writeGathered as a
// handler's end does. A Send that runs out of credits writes what waits
// (beforeWait: writeGathered, which now returns without the turn when
// held says nothing waits) and waits for credits, which come back only
// once the frontend has read messages. Messages gathered by a goroutine
// whose store of held the waiter did not see go out with the timer. A
// message held with no write to come (a lost wake-up of the writer) would
// leave every Send waiting for credits that never come: the reader below
// would stop short. Each sender's messages must arrive, in order. Fails
// (subtest "timer") with the gathering timer never armed, and (both) with
// that and writeGathered doing nothing (checked).
func TestGatheredMessagesReachAFrontendGivingCreditsBack(t *testing.T) {
	for _, ends := range []bool{false, true} {
		t.Run(map[bool]string{false: "timer", true: "handler ends"}[ends], func(t *testing.T) {
			brk10GatherAndGiveBack(t, ends)
		})
	}
}

// brk10GatherAndGiveBack is the test above; handlerEnds adds the goroutine
// that calls writeGathered over and over.
func brk10GatherAndGiveBack(t *testing.T, handlerEnds bool) {
	const senders, each = 4, 400
	c, rd, give := brk10Sender(t, 2)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				p := Params{"s": s, "i": i}
				if !assert.NoError(t, c.send(context.Background(), &frame{kind: kindMessage, command: "m", params: p})) {
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	ended := make(chan struct{})
	go func() { // handlers returning, over and over
		defer close(ended)
		for handlerEnds {
			select {
			case <-stop:
				return
			default:
				c.writeGathered()
			}
		}
	}()
	defer func() { close(stop); <-ended }()

	got := make(chan error, 1)
	go func() {
		next := make([]int, senders)
		for range senders * each {
			fr, err := rd.read()
			if err != nil {
				got <- err
				return
			}
			s, _ := fr.params.Int("s")
			i, _ := fr.params.Int("i")
			if i != next[s] {
				got <- assert.AnError
				return
			}
			next[s]++
			give(1)
		}
		got <- nil
	}()
	select {
	case err := <-got:
		require.NoError(t, err, "every message, in its sender's order")
	case <-time.After(30 * time.Second):
		t.Fatal("messages stopped coming: some wait, gathered, with no write to come")
	}
	wg.Wait()
}
