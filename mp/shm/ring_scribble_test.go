package shm

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Faults: another process scribbles over the ring's shared words. Every
// case is an error wrapping ErrCorrupt (or ErrPeerDied for a PID), never a
// panic, an out-of-range slice or an endless loop.

func TestRingScribbled(t *testing.T) {
	put := func(r *Ring, off int, v uint64) { binary.LittleEndian.PutUint64(r.mem[off:], v) }
	slot := func(r *Ring, pos int) int { return ringHeaderSize + pos*r.step%r.Slots*r.stride }
	for name, tc := range map[string]struct {
		policy   FullPolicy
		frames   int // written before the scribble
		scribble func(r *Ring)
		op       func(p *Producer, c *Consumer) error
		want     error
	}{
		"slot sequence":             {Block, 1, func(r *Ring) { put(r, slot(r, 0), 12345) }, next, ErrCorrupt},
		"slot sequence ahead":       {Block, 1, func(r *Ring) { put(r, slot(r, 0), 1+4) }, next, ErrCorrupt},
		"slot sequence a lap ahead": {DropOldest, 1, func(r *Ring) { put(r, slot(r, 0), 1+4) }, next, ErrCorrupt},
		"slot length":               {Block, 1, func(r *Ring) { put(r, slot(r, 0)+8, 1<<40) }, next, ErrCorrupt},
		"tail beyond head":          {Block, 4, func(r *Ring) { put(r, offTail, 1<<40) }, reserve, ErrCorrupt},
		"tail backwards": {Block, 4, func(r *Ring) {
			buf := make([]byte, 16)
			r.cons.Read(buf)
			r.cons.Read(buf)
			r.prod.Write([]byte("a")) // reads the tail, 2
			r.prod.Write([]byte("b"))
			put(r, offTail, 0)
		}, reserve, ErrCorrupt},
		"held tail":        {DropOldest, 1, func(r *Ring) { put(r, offTail, holdBit) }, next, ErrCorrupt},
		"tail backwards 2": {DropOldest, 1, func(r *Ring) { put(r, offTail, 0); r.cons.pos = 1 }, next, ErrCorrupt},
		"producer PID":     {Block, 0, func(r *Ring) { put(r, offProdPID, 1<<40) }, next, ErrPeerDied},
		"consumer PID":     {Block, 4, func(r *Ring) { put(r, offConsPID, 999999) }, reserve, ErrPeerDied},
	} {
		t.Run(name, func(t *testing.T) {
			r, p, c := heapRing(t, RingConfig{SlotSize: 16, Slots: 4, Policy: tc.policy})
			for range tc.frames {
				write(t, p, "frame")
			}
			tc.scribble(r)
			assert.ErrorIs(t, tc.op(p, c), tc.want)
		})
	}
}

func next(_ *Producer, c *Consumer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Next(ctx)
	return err
}

func reserve(p *Producer, _ *Consumer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := p.Reserve(ctx)
	return err
}

func TestRingScribbledHeadOnTakeover(t *testing.T) {
	// A producer taking the side over finds head and tail inconsistent.
	r, err := newHeapRing(RingConfig{SlotSize: 16, Slots: 4})
	require.NoError(t, err)
	defer r.Close()
	binary.LittleEndian.PutUint64(r.mem[offHead:], 100)
	_, err = r.Producer()
	assert.ErrorIs(t, err, ErrCorrupt)
}

func TestRingScribbledAtRandom(t *testing.T) {
	// Random words at random places of the header's shared part and of the
	// slots' headers, between operations of both sides, over and over.
	// Every operation ends, with a frame or an error; none panics.
	rnd := rand.New(rand.NewPCG(7, 7))
	errs := 0
	for round := range 300 {
		policy := FullPolicy(round % 3)
		r, p, c := heapRing(t, RingConfig{SlotSize: 24, Slots: 4, Policy: policy})
		for step := range 20 {
			off := offHead + 8*rnd.IntN((offConsWaiting+8-offHead)/8)
			if rnd.IntN(2) == 0 {
				off = ringHeaderSize + rnd.IntN(r.Slots)*r.stride + 8*rnd.IntN(2)
			}
			if step%4 == 0 {
				binary.LittleEndian.PutUint64(r.mem[off:], randomWord(rnd))
			}
			// Most operations may not sleep (their context has ended);
			// one in ten may, for a millisecond.
			d := time.Duration(0)
			if step%10 == 0 {
				d = time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), d)
			var err error
			if rnd.IntN(2) == 0 {
				var buf []byte
				if buf, err = p.Reserve(ctx); err == nil {
					copy(buf, "scribbled")
					err = p.Commit(9)
				}
			} else {
				var f []byte
				if f, err = c.Next(ctx); err == nil {
					require.LessOrEqual(t, len(f), 24)
					err = c.Release()
				}
			}
			cancel()
			if err != nil {
				errs++
			}
		}
		r.Close()
	}
	assert.Greater(t, errs, 0, "some scribbles were found")
}

// randomWord returns a word that is often nearly right (a small number, a
// number near a power of two, all ones), sometimes anything.
func randomWord(rnd *rand.Rand) uint64 {
	switch rnd.IntN(4) {
	case 0:
		return uint64(rnd.IntN(16))
	case 1:
		return 1<<rnd.IntN(64) + uint64(rnd.IntN(3)) - 1
	case 2:
		return ^uint64(0)
	}
	return rnd.Uint64()
}
