package shm

import (
	"context"
	"encoding/binary"
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

func TestRingNoLostWakeUp(t *testing.T) {
	// A stress of the sleeping protocol (ring_fence.go): a wake-up lost
	// between a side publishing without a fence and the other going to
	// sleep would leave both asleep for good. Polling is off, so every
	// wait of this ping-pong through two rings sleeps: 20,000 round trips
	// must all come back. (The race it looks for is a few nanoseconds
	// wide: with the membarrier taken out, three runs still passed.)
	defer func(old bool) { spin.Off = old }(spin.Off)
	spin.Off = true
	_, pa, ca := heapRing(t, RingConfig{SlotSize: 8, Slots: 2})
	_, pb, cb := heapRing(t, RingConfig{SlotSize: 8, Slots: 2})
	const rounds = 20000
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	echo := make(chan error, 1)
	go func() {
		for range rounds {
			f, err := ca.Next(ctx)
			if err == nil {
				var buf []byte
				n := binary.LittleEndian.Uint64(f)
				ca.Release()
				if buf, err = pb.Reserve(ctx); err == nil {
					binary.LittleEndian.PutUint64(buf, n+1)
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
	for i := range uint64(rounds) {
		buf, err := pa.Reserve(ctx)
		require.NoError(t, err)
		binary.LittleEndian.PutUint64(buf, 2*i)
		require.NoError(t, pa.Commit(8))
		f, err := cb.Next(ctx)
		require.NoError(t, err, "round trip %d", i)
		require.Equal(t, 2*i+1, binary.LittleEndian.Uint64(f))
		cb.Release()
	}
	assert.NoError(t, <-echo)
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
