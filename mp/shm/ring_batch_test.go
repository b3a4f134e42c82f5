package shm

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/spin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRingReleasesInBatches(t *testing.T) {
	// Under Block, a consumer hands slots back an eighth of the ring at a
	// time, and before it waits for a frame.
	r, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 16})
	for range 16 {
		write(t, p, "f")
	}
	read(t, c)
	assert.Zero(t, r.words.tail.Load(), "one release of a batch of 2 is not published")
	read(t, c)
	assert.Equal(t, uint64(2), r.words.tail.Load(), "the batch is")
	read(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	for range 13 {
		read(t, c)
	}
	_, err := c.Next(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, uint64(16), r.words.tail.Load(), "published before Next waited")
}

func TestRingReleaseWakesWaitingProducer(t *testing.T) {
	// Fault: the producer waits on a full ring while the consumer has
	// released fewer slots than a batch and then reads no more. The
	// release is published at once because the producer waits for it:
	// the blocked Write goes through within a second.
	r, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 16})
	for range 16 {
		write(t, p, "f")
	}
	done := make(chan error, 1)
	go func() { _, err := p.Write([]byte("late")); done <- err }()
	require.Eventually(t, func() bool { return r.words.prodWaiting.Load() != 0 },
		5*time.Second, time.Millisecond, "the producer sleeps on the full ring")
	assert.Equal(t, "f", read(t, c))
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(time.Second):
		t.Fatal("the producer still waits for a slot that was released")
	}
}

// TestRingNoLostWakeUp plays ping-pong through two rings with polling off,
// so that every wait sleeps: each round trip must come back. A wake-up
// lost between a side that publishes and the other going to sleep would
// leave both asleep for good (ring_fence.go).
//
// "stress" runs the two sides free: the race it looks for is a few
// nanoseconds wide (with the membarrier taken out, runs still passed).
// "forced" holds each producer between its commit and its look at the
// consumer's waiting flag (beforeLook) until the consumer has either gone
// to sleep or taken the frame: the interleaving the protocol must survive,
// in every round. With the look moved before the commit, it fails in the
// first round that the consumer was awake (the consumer sleeps on a
// frame that is committed without a wake-up).
func TestRingNoLostWakeUp(t *testing.T) {
	t.Run("stress", func(t *testing.T) { pingPongAsleep(t, 20000, false) })
	t.Run("forced", func(t *testing.T) { pingPongAsleep(t, 2000, true) })
}

func pingPongAsleep(t *testing.T, rounds uint64, forced bool) {
	defer spin.SetOff(spin.SetOff(true))
	_, pa, ca := heapRing(t, RingConfig{SlotSize: 8, Slots: 2})
	_, pb, cb := heapRing(t, RingConfig{SlotSize: 8, Slots: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// settled[c] says that consumer c went to sleep or took a frame since
	// the last settled.forget(c), which each producer calls before it commits.
	settled := newSettled(&ca.side, &cb.side)
	if forced {
		holdCommits(t, ctx, rounds, map[*side]*side{&pa.side: &ca.side, &pb.side: &cb.side}, settled)
	}
	echo := make(chan error, 1)
	go func() {
		for range rounds {
			f, err := ca.Next(ctx)
			if err == nil {
				settled.tell(&ca.side)
				var buf []byte
				n := binary.LittleEndian.Uint64(f)
				ca.Release()
				if buf, err = pb.Reserve(ctx); err == nil {
					binary.LittleEndian.PutUint64(buf, n+1)
					settled.forget(&cb.side)
					err = pb.Commit(8)
				}
			}
			if err != nil {
				echo <- err
				return
			}
		}
		echo <- nil
	}()
	for i := range rounds {
		buf, err := pa.Reserve(ctx)
		require.NoError(t, err)
		binary.LittleEndian.PutUint64(buf, 2*i)
		settled.forget(&ca.side)
		require.NoError(t, pa.Commit(8))
		f, err := cb.Next(ctx)
		require.NoError(t, err, "round trip %d", i)
		settled.tell(&cb.side)
		require.Equal(t, 2*i+1, binary.LittleEndian.Uint64(f))
		cb.Release()
	}
	assert.NoError(t, <-echo)
}

// settledSides says, for each side, that it went to sleep or took what
// it waited for since it was last forgotten: a token in a one-slot channel.
type settledSides map[*side]chan struct{}

// newSettled returns the tokens of sides, none held.
func newSettled(sides ...*side) settledSides {
	s := settledSides{}
	for _, d := range sides {
		s[d] = make(chan struct{}, 1)
	}
	return s
}

// tell records that d settled.
func (s settledSides) tell(d *side) {
	select {
	case s[d] <- struct{}{}:
	default:
	}
}

// forget takes d's token back, if it has one.
func (s settledSides) forget(d *side) {
	select {
	case <-s[d]:
	default:
	}
}

// holdCommits holds each producer of consumerOf between its commit and its
// look at its consumer's waiting flag until that consumer has gone to sleep
// or taken a frame (settled): the order a lost wake-up needs, every time.
func holdCommits(t *testing.T, ctx context.Context, rounds uint64, consumerOf map[*side]*side, settled settledSides) {
	var held atomic.Int64
	beforeSleep = func(s *side, _ int) {
		if settled[s] != nil {
			settled.tell(s)
		}
	}
	beforeLook = func(s *side) {
		c := consumerOf[s]
		if c == nil {
			return // a release: no producer waits in this test
		}
		if c.waiting.Load() != 0 {
			return // asleep, or about to look: the flag is seen
		}
		held.Add(1)
		select {
		case <-settled[c]:
		case <-ctx.Done():
		}
	}
	t.Cleanup(func() {
		beforeSleep, beforeLook = nil, nil
		t.Logf("%d commits of %d held until the consumer settled", held.Load(), 2*rounds)
	})
}

func TestRingSidesSayHowTheyPublish(t *testing.T) {
	// Each side writes into the header whether it publishes without a
	// fence, so that the other knows to call membarrier before it sleeps.
	r, _, _ := heapRing(t, RingConfig{SlotSize: 8, Slots: 2})
	want := uint32(0)
	if publishFenceless() {
		want = 1
	}
	assert.Equal(t, want, r.words.prodFenceless.Load(), "producer")
	assert.Equal(t, want, r.words.consFenceless.Load(), "consumer")
	assert.Equal(t, want, binary.LittleEndian.Uint32(r.mem[80:]), "offset 80, as documented")
	assert.Equal(t, want, binary.LittleEndian.Uint32(r.mem[84:]), "offset 84")
	t.Logf("membarrier here: %v", publishFenceless())
}

// TestRingNoLostWakeUpEitherWay streams frames through a ring of one slot
// with polling off, so that the producer sleeps for every slot and the
// consumer for every frame, and holds each side between what it publishes
// (a frame, a released slot) and its look at the other's waiting flag
// (beforeLook) until the other side has gone to sleep or got what was
// published. With the look moved before the publishing, in Commit or in
// the consumer's release (flush), the other side sleeps on what was
// published and the stream stops.
func TestRingNoLostWakeUpEitherWay(t *testing.T) {
	defer spin.SetOff(spin.SetOff(true))
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	settled := newSettled(&p.side, &c.side)
	other := map[*side]*side{&p.side: &c.side, &c.side: &p.side}
	var held atomic.Int64
	beforeSleep = func(s *side, _ int) { settled.tell(s) }
	beforeLook = func(s *side) {
		o := other[s]
		if o.waiting.Load() != 0 {
			return // asleep, or about to look: the flag is seen
		}
		held.Add(1)
		select {
		case <-settled[o]:
		case <-ctx.Done():
		}
	}
	t.Cleanup(func() { beforeSleep, beforeLook = nil, nil })
	const frames = 2000
	consumed := make(chan error, 1)
	go func() {
		for i := range uint64(frames) {
			f, err := c.Next(ctx)
			if err != nil {
				consumed <- fmt.Errorf("frame %d: %w", i, err)
				return
			}
			settled.tell(&c.side)
			if n := binary.LittleEndian.Uint64(f); n != i {
				consumed <- fmt.Errorf("frame %d instead of %d", n, i)
				return
			}
			settled.forget(&p.side)
			c.Release()
		}
		consumed <- nil
	}()
	for i := range uint64(frames) {
		buf, err := p.Reserve(ctx)
		require.NoError(t, err, "slot for frame %d", i)
		settled.tell(&p.side)
		binary.LittleEndian.PutUint64(buf, i)
		settled.forget(&c.side)
		require.NoError(t, p.Commit(8))
	}
	_, err := p.Reserve(ctx) // the slot of the last frame comes back too
	require.NoError(t, err, "slot after the last frame")
	settled.tell(&p.side)
	assert.NoError(t, <-consumed)
	t.Logf("%d of %d publishings held until the other side settled", held.Load(), 2*frames)
}
