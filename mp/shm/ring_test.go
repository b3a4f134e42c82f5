package shm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/spin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heapRing returns both sides of a ring in Go memory, closed at the end.
func heapRing(t *testing.T, cfg RingConfig) (*Ring, *Producer, *Consumer) {
	t.Helper()
	r, err := newHeapRing(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	return r, p, c
}

// expired returns a context that has already ended.
func expired() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func write(t *testing.T, p *Producer, s string) {
	t.Helper()
	n, err := p.Write([]byte(s))
	require.NoError(t, err)
	require.Equal(t, len(s), n)
}

func read(t *testing.T, c *Consumer) string {
	t.Helper()
	b := make([]byte, c.r.SlotSize)
	n, err := c.Read(b)
	require.NoError(t, err)
	return string(b[:n])
}

func TestRingConfigErrors(t *testing.T) {
	// Bad input: sizes and counts out of range, a count that is not a
	// power of two, an unknown policy. Each is ErrBadConfig, from the heap
	// ring as from a named or anonymous one, and nothing is left behind.
	useShmPrefix(t)
	for _, cfg := range []RingConfig{
		{SlotSize: 0, Slots: 4},
		{SlotSize: -1, Slots: 4},
		{SlotSize: maxSlotSize + 1, Slots: 4},
		{SlotSize: 64, Slots: 0},
		{SlotSize: 64, Slots: -8},
		{SlotSize: 64, Slots: 3},
		{SlotSize: 64, Slots: 12},
		{SlotSize: 64, Slots: maxSlots * 2},
		{SlotSize: maxSlotSize, Slots: maxSlots},
		{SlotSize: 64, Slots: 4, Policy: DropOldest + 1},
	} {
		_, err := newHeapRing(cfg)
		assert.ErrorIs(t, err, ErrBadConfig, "%+v", cfg)
		_, err = CreateRingAnon("bad", cfg)
		assert.ErrorIs(t, err, ErrBadConfig, "%+v", cfg)
		_, err = CreateRing("bad", cfg)
		assert.ErrorIs(t, err, ErrBadConfig, "%+v", cfg)
	}
	_, err := ParseFullPolicy("drop")
	assert.ErrorIs(t, err, ErrBadConfig)
	p, err := ParseFullPolicy("drop-oldest")
	assert.NoError(t, err)
	assert.Equal(t, DropOldest, p)
}

func TestRingWrapAround(t *testing.T) {
	// Frames of every length from 0 to the slot size go round a ring of 4
	// slots many times, the producer up to 3 frames ahead.
	_, p, c := heapRing(t, RingConfig{SlotSize: 40, Slots: 4})
	next := 0
	for i := range 100 {
		write(t, p, string(bytes.Repeat([]byte{byte(i)}, i%41)))
		if i%4 == 3 || i == 99 {
			for ; next <= i; next++ {
				assert.Equal(t, string(bytes.Repeat([]byte{byte(next)}, next%41)), read(t, c), "frame %d", next)
			}
		}
	}
	assert.Equal(t, uint64(100), atomic.LoadUint64(p.w.head))
	assert.Equal(t, uint64(100), c.w.tail.Load())
}

func TestRingEmptyWaitsAndWakes(t *testing.T) {
	// An empty ring: Next waits until its context ends, then until a frame
	// comes from another goroutine.
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Next(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	done := make(chan error)
	go func() { _, err := p.Write([]byte("late")); done <- err }()
	assert.Equal(t, "late", read(t, c))
	assert.NoError(t, <-done)
}

func TestRingFullBlocks(t *testing.T) {
	// Fault: the consumer stops reading. With Block, the producer waits
	// (its context ends it); once the consumer reads, the blocked Write
	// goes through. Nothing grows: the ring holds its two frames.
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 2})
	write(t, p, "a")
	write(t, p, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := p.Reserve(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, c.Drops())
	done := make(chan error)
	go func() { _, err := p.Write([]byte("c")); done <- err }()
	assert.Equal(t, "a", read(t, c))
	require.NoError(t, <-done)
	assert.Equal(t, "b", read(t, c))
	assert.Equal(t, "c", read(t, c))
}

func TestRingDropNewest(t *testing.T) {
	// Fault: the consumer stops reading, under DropNewest: the new frames
	// are dropped and counted, the old ones stay.
	r, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 2, Policy: DropNewest})
	for i := range 5 {
		_, err := p.Write([]byte{'0' + byte(i)})
		if i < 2 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, ErrDropped)
		}
	}
	assert.Equal(t, uint64(3), c.Drops())
	assert.Equal(t, uint64(3), r.Drops())
	assert.Equal(t, "0", read(t, c))
	assert.Equal(t, "1", read(t, c))
}

func TestRingDropOldest(t *testing.T) {
	// Fault: the consumer stops reading, under DropOldest: the oldest
	// frames are dropped and counted, the newest kept. A frame being read
	// is never overwritten: the new frame is dropped instead.
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 2, Policy: DropOldest})
	for i := range 5 {
		write(t, p, string(rune('0'+i)))
	}
	assert.Equal(t, uint64(3), c.Drops())
	view, err := c.Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "3", string(view))
	_, err = p.Write([]byte("5"))
	require.ErrorIs(t, err, ErrDropped, "the oldest frame is being read")
	assert.Equal(t, "3", string(view), "the view is intact")
	assert.Equal(t, uint64(4), c.Drops())
	require.NoError(t, c.Release())
	write(t, p, "6") // a slot was free
	write(t, p, "7") // drops 4
	assert.Equal(t, "6", read(t, c))
	assert.Equal(t, "7", read(t, c))
	assert.Equal(t, uint64(5), c.Drops())
}

func TestRingEndOfStream(t *testing.T) {
	// The producer closes: the consumer reads what was committed, then
	// io.EOF, every time it asks.
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 4})
	write(t, p, "x")
	write(t, p, "y")
	require.NoError(t, p.Close())
	assert.Equal(t, "x", read(t, c))
	assert.Equal(t, "y", read(t, c))
	for range 2 {
		_, err := c.Next(context.Background())
		assert.Equal(t, io.EOF, err)
	}
	_, err := p.Write([]byte("z"))
	assert.ErrorIs(t, err, ErrRingClosed)
	assert.ErrorIs(t, p.Close(), ErrRingClosed)
}

func TestRingEndOfStreamWakesSleeper(t *testing.T) {
	// A consumer asleep on an empty ring is woken by the producer's Close.
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 4})
	done := make(chan error)
	go func() { _, err := c.Next(context.Background()); done <- err }()
	require.NoError(t, p.Close())
	assert.Equal(t, io.EOF, <-done)
}

func TestRingReservedNeverCommitted(t *testing.T) {
	// Fault: the producer reserves a slot, writes half a frame into it and
	// closes without committing: the consumer never sees it.
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 4})
	write(t, p, "whole")
	buf, err := p.Reserve(context.Background())
	require.NoError(t, err)
	copy(buf, "torn")
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Commit(4), ErrRingClosed, "too late")
	assert.Equal(t, "whole", read(t, c))
	_, err = c.Next(context.Background())
	assert.Equal(t, io.EOF, err)
}

func TestRingFrameTooLarge(t *testing.T) {
	// Bad input: a frame larger than a slot is ErrFrameTooLarge from Write
	// and from Commit; nothing is written to the slot, nothing published.
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 2})
	_, err := p.Write([]byte("123456789"))
	require.ErrorIs(t, err, ErrFrameTooLarge)
	_, _, payload := p.w.slot(0)
	assert.Equal(t, make([]byte, 8), payload, "nothing written")
	_, err = p.Reserve(context.Background())
	require.NoError(t, err)
	require.ErrorIs(t, p.Commit(9), ErrFrameTooLarge)
	require.ErrorIs(t, p.Commit(-1), ErrFrameTooLarge)
	_, err = c.Next(expired())
	require.ErrorIs(t, err, context.Canceled, "nothing published")
	require.NoError(t, p.Commit(0))
	assert.Equal(t, "", read(t, c))
}

func TestRingCloseInterrupts(t *testing.T) {
	// Close from another goroutine ends a wait of its side.
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 1})
	done := make(chan error)
	go func() { _, err := c.Next(context.Background()); done <- err }()
	require.NoError(t, c.Close())
	assert.ErrorIs(t, <-done, ErrRingClosed)
	_, err := p.Write([]byte("x"))
	assert.ErrorIs(t, err, io.ErrClosedPipe, "nobody reads")
}

func TestRingConsumerCloseWakesProducer(t *testing.T) {
	// A producer blocked on a full ring gets io.ErrClosedPipe when the
	// consumer closes.
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 1})
	write(t, p, "x")
	done := make(chan error)
	go func() { _, err := p.Write([]byte("y")); done <- err }()
	require.NoError(t, c.Close())
	assert.ErrorIs(t, <-done, io.ErrClosedPipe)
}

func TestRingSidesTaken(t *testing.T) {
	r, _, _ := heapRing(t, RingConfig{SlotSize: 8, Slots: 1})
	_, err := r.Producer()
	assert.ErrorIs(t, err, ErrBusy)
	_, err = r.Consumer()
	assert.ErrorIs(t, err, ErrBusy)
	require.NoError(t, r.Close())
	assert.ErrorIs(t, r.Close(), ErrRingClosed)
}

func TestRingConcurrent(t *testing.T) {
	// The ring's logic between two goroutines over Go memory, which the
	// race detector sees (go test -race): frames of random length with a
	// number and a checksum, every policy, zero-copy on both sides.
	for _, policy := range []FullPolicy{Block, DropNewest, DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			_, p, c := heapRing(t, RingConfig{SlotSize: 256, Slots: 8, Policy: policy})
			const frames = 20000
			go func() {
				rnd := rand.New(rand.NewPCG(1, 2))
				for i := range frames {
					f := testFrame(rnd, uint64(i), 256)
					buf, err := p.Reserve(context.Background())
					if errors.Is(err, ErrDropped) {
						continue
					}
					if err != nil {
						panic(err)
					}
					copy(buf, f)
					p.Commit(len(f))
				}
				p.Close()
			}()
			got, last := 0, -1
			for {
				f, err := c.Next(context.Background())
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				n := int(uint64le(f))
				require.Greater(t, n, last, "frames in order")
				require.NoError(t, checkTestFrame(f, uint64(n)))
				if policy == Block {
					require.Equal(t, last+1, n, "no frame lost")
				}
				last = n
				got++
				require.NoError(t, c.Release())
			}
			assert.Equal(t, frames, got+int(c.Drops()), "every frame read or counted as dropped")
		})
	}
}

func uint64le(b []byte) uint64 {
	var n uint64
	for i := 7; i >= 0; i-- {
		n = n<<8 | uint64(b[i])
	}
	return n
}

func TestRingSpinOff(t *testing.T) {
	// MP_SPIN=0 turns the ring's polling off: a side that finds the ring
	// empty sleeps at once. The switch is read once, at start-up, so the
	// test runs itself again with it set.
	if os.Getenv("MP_SPIN") == "0" {
		require.True(t, spin.Off())
		s := newPoller()
		s.done() // a frame just came: polling would start
		tries := 0
		ok, err := s.poll(func() (bool, error) { tries++; return false, nil })
		assert.False(t, ok)
		assert.NoError(t, err)
		assert.Zero(t, tries, "no polling")
		_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 2})
		done := make(chan error)
		go func() { _, err := p.Write([]byte("slept")); done <- err }()
		assert.Equal(t, "slept", read(t, c))
		assert.NoError(t, <-done)
		return
	}
	assert.False(t, spin.Off(), "polling is on by default")
	cmd := exec.Command("/proc/self/exe", "-test.run=^TestRingSpinOff$", "-test.v")
	cmd.Env = append(os.Environ(), "MP_SPIN=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestRingSpinOff")
}
