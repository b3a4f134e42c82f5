package shm

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

var errInvalid = os.ErrInvalid

// Consumer is the reading side of a ring. It is used by one goroutine at a
// time; Close may be called from another, to interrupt a wait.
//
// Next and Release take a short way for a frame that is there (under
// Block and DropNewest): a look at the slot's sequence number and length,
// and at the release a count; everything else is in functions of their
// own.
type Consumer struct {
	side
	pos       uint64 // the position of the next frame to read
	published uint64 // the position last published as the tail
	batch     uint64 // releases published at once (see Release)
	short     bool   // the policy and the ring let Next and Release take their short way
	// ended: Next returned io.EOF for the producer whose take (the
	// header's count of them) is endedBy (see stillEnded).
	ended   bool
	endedBy uint32
}

// Consumer takes the consuming side of the ring for this process. The
// producer, if it waits for somebody to consume, is woken. A consumer that
// takes over from one that died starts at the last tail it published: it
// may read again up to an eighth of the ring that the dead one had
// released (see Release). A consumer that takes the side from one that
// closed it (this process's included: see Consumer.Close) starts after
// the last frame released, and opens the side again: the producer's
// Reserve, which failed with io.ErrClosedPipe while the side was closed,
// succeeds again. Consumer fails with ErrBusy
// while a live process (this one included) holds the side, with
// ErrRingClosed after Close, and with the error of the check when whether
// the process that consumed is alive cannot be told.
func (r *Ring) Consumer() (*Consumer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cons != nil {
		if !r.cons.gaveUp.Load() {
			return nil, fmt.Errorf("shm: ring %q consumer: %w: %w", r.name, ErrBusy, errTaken)
		}
		r.cons.retire()
		r.cons = nil
	}
	c := &Consumer{}
	if err := r.initSide(&c.side, "consumer", r.dataFD, r.spaceFD); err != nil {
		return nil, err
	}
	w := r.words
	c.waiting, c.peerWaiting, c.ownClosed = w.consWaiting, w.prodWaiting, w.consClosed
	c.ownFenceless, c.peerFenceless = w.consFenceless, w.prodFenceless
	c.peer = newPeer(w.prodPID, w.prodStart)
	c.batch = releaseBatch(r.RingConfig)
	// A consumer that gives the side up publishes what it released, so
	// that the next one does not read it again.
	c.settle = c.flush
	c.short = r.Policy != DropOldest && !c.guarded
	if _, err := protectSide(&c.side, "take", func() (struct{}, error) { return struct{}{}, c.takeSide() }); err != nil {
		c.peer.close()
		unix.Close(c.cancelFD)
		return nil, err
	}
	r.cons = c
	return c, nil
}

// takeSide finds where the consumer starts from, and takes the side.
func (c *Consumer) takeSide() error {
	return c.attach(c.w.consPID, c.w.consStart, c.resume)
}

// resume finds where the consumer starts from; attach runs it once the
// side is known free (the mark below may be a live consumer's).
func (c *Consumer) resume() error {
	w := c.w
	// A consumer that takes over from one that died reading a frame under
	// DropOldest finds the tail still marked: the frame was never
	// released, so it is read again, and the mark goes.
	// (The producer never moves a marked tail, so the mark is cleared
	// with a compare-and-swap that cannot undo a drop.)
	if t := w.tail.Load(); t&holdBit != 0 {
		w.tail.CompareAndSwap(t, t&^holdBit)
	}
	c.pos = w.tail.Load() &^ holdBit
	c.published = c.pos
	return nil
}

// Next returns the next committed frame: a read-only view of its slot,
// valid until Release (do not write to it, nor keep it). It waits while
// the ring is empty. Calling it again before Release returns the same
// frame.
//
// Next returns io.EOF once the producer closed and every committed frame
// was read, and again until a producer takes the side over; an error wrapping ErrPeerDied when the producer's process died
// (after every frame it committed was read; a frame it was writing is
// never returned); ctx's error when ctx ends; ErrRingClosed after Close;
// ErrCorrupt when the slot or the counters hold impossible values; and an
// error wrapping ErrFault on a named ring whose segment another process
// shrank (the view it returns is the caller's to read, unguarded: see
// ErrFault).
func (c *Consumer) Next(ctx context.Context) ([]byte, error) {
	if c.held == 0 && c.short && !c.ended {
		seq, length, payload := c.w.slot(c.pos)
		if seq.Load() == c.pos+1 {
			if n := *length; n <= uint64(len(payload)) {
				// Held before the look at closed: see side.close.
				c.setHeld(1)
				if c.closed.Load() {
					return nil, c.closedError("next")
				}
				return payload[:n:n], nil
			}
		}
	}
	return protectSide(&c.side, "next", func() ([]byte, error) { return c.next(ctx) })
}

// next is Next when the frame is held already, the side is closed, the
// frame is not there or its length is wrong, or the policy is DropOldest.
func (c *Consumer) next(ctx context.Context) ([]byte, error) {
	c.slow.Lock()
	defer c.slow.Unlock()
	if c.closed.Load() {
		return nil, c.closedError("next")
	}
	if c.held != 0 {
		return c.view()
	}
	if c.stillEnded() {
		return nil, io.EOF
	}
	// The producer's take that the end will be of: read before the look,
	// since a producer that takes the side over after it reopens the
	// stream.
	by := c.w.prodTakes.Load()
	ok, err := c.ready()
	if !ok && err == nil {
		c.flush()
		err = c.wait(ctx, c.ready)
	}
	if err == io.EOF {
		c.ended, c.endedBy = true, by
	}
	if err != nil {
		return nil, err
	}
	return c.take()
}

// stillEnded reports whether the stream Next said io.EOF for is still
// over: no producer has reopened it by taking the side again (each take
// counts one in the header: the same process may take it again once it
// gave it up). A frame published after that io.EOF is one whose Commit
// Close overtook, and failed (see Producer.closedDuringCommit): it is not
// read.
func (c *Consumer) stillEnded() bool {
	if c.ended && c.w.closed.Load() != 0 && c.endedBy == c.w.prodTakes.Load() {
		return true
	}
	c.ended = false
	return false
}

// ready reports whether the frame at pos is committed, claiming it under
// DropOldest. An empty ring whose producer closed is io.EOF. Under
// DropOldest the producer may move the position meanwhile (it drops the
// oldest frame): the look starts again, a bounded number of times.
func (c *Consumer) ready() (bool, error) {
	for range 64 {
		if c.r.Policy == DropOldest {
			t := c.w.tail.Load()
			if t&holdBit != 0 || t < c.pos {
				return false, c.errorf("%w: the consumer's position went from %d to %#x", ErrCorrupt, c.pos, t)
			}
			c.pos = t
		}
		seq, _, _ := c.w.slot(c.pos)
		s := seq.Load()
		if afterSeqLoad != nil {
			afterSeqLoad()
		}
		switch {
		case s == c.pos+1:
			if c.r.Policy != DropOldest || c.w.tail.CompareAndSwap(c.pos, c.pos|holdBit) {
				return true, nil
			}
			continue // the producer dropped it meanwhile
		case s > c.pos+1 && c.r.Policy == DropOldest && (s-1-c.pos)%uint64(c.r.Slots) == 0 && c.w.tail.Load() != c.pos:
			continue // dropped and overwritten since we read the position
		case !(s == 0 && c.pos < uint64(c.r.Slots) || s+uint64(c.r.Slots) == c.pos+1):
			return false, c.errorf("%w: slot of frame %d holds sequence number %d", ErrCorrupt, c.pos, s)
		}
		// Not committed yet. The producer commits before it closes: if
		// it has closed, a second look is final. Under DropOldest the
		// producer may have dropped this frame and gone a lap further
		// since the first look: then the position moved, and the
		// frames after it are to be read.
		if c.w.closed.Load() == 0 {
			return false, nil
		}
		if seq.Load() == c.pos+1 || c.r.Policy == DropOldest && c.w.tail.Load() != c.pos {
			continue
		}
		return false, io.EOF
	}
	return false, c.errorf("%w: the consumer's position keeps moving under it", ErrCorrupt)
}

// afterSeqLoad, if set, runs in ready between its look at a slot and what
// it concludes from it: a test's way to move the producer in between.
var afterSeqLoad func()

// take holds the frame at pos and returns its view. A frame whose length
// is larger than a slot is released at once, and ErrCorrupt.
func (c *Consumer) take() ([]byte, error) {
	c.setHeld(1)
	v, err := c.view()
	if err != nil {
		c.Release()
	}
	return v, err
}

// view returns the frame at pos, checking its length.
func (c *Consumer) view() ([]byte, error) {
	_, length, payload := c.w.slot(c.pos)
	n := *length
	if n <= uint64(len(payload)) {
		return payload[:n:n], nil
	}
	return nil, c.errorf("%w: frame %d says %d bytes, slots hold %d", ErrCorrupt, c.pos, n, len(payload))
}

// Release gives the slot of the frame Next returned back to the producer.
// The view must not be used afterwards. Release without a frame is
// os.ErrInvalid.
//
// Under Block and DropNewest, released slots are handed back in batches
// of an eighth of the ring (at once when the producer waits for one, and
// before Next waits for a frame), so that the producer, when it has filled
// the ring, goes on with slots the consumer left a while ago instead of
// taking each one from under it. Under DropOldest every release is
// published at once.
func (c *Consumer) Release() error {
	if c.held == 0 || !c.short {
		_, err := protectSide(&c.side, "release", func() (struct{}, error) { return struct{}{}, c.release() })
		return err
	}
	c.pos++
	if c.pos-c.published >= c.batch || c.peerWaiting.Load() != 0 {
		c.flush()
	}
	// released, written out: a call costs a nanosecond or two here.
	c.setHeld(0)
	if c.closed.Load() {
		c.giveUp()
	}
	return nil
}

// released ends the hold, after the release's last store, and gives the
// side up if a Close came meanwhile (see side.close).
func (c *Consumer) released() {
	c.setHeld(0)
	if c.closed.Load() {
		c.giveUp()
	}
}

// closedError is the error of a call that finds the side closed: the
// frame it held, if any, is left unreleased, and the side given up (see
// side.close).
func (c *Consumer) closedError(op string) error {
	c.setHeld(0)
	c.giveUp()
	return c.errorf("%s: %w", op, ErrRingClosed)
}

// release is Release under DropOldest, or without a frame held.
func (c *Consumer) release() error {
	if c.held == 0 {
		return c.errorf("release: no frame held: %w", errInvalid)
	}
	c.pos++
	if c.r.Policy == DropOldest {
		// The tail is marked (holdBit), so the producer leaves it
		// alone: this store cannot undo a drop.
		c.publish(c.w.tail, c.pos)
		c.wake()
	} else if c.pos-c.published >= c.batch || c.peerWaiting.Load() != 0 {
		c.flush()
	}
	c.released()
	return nil
}

// flush publishes the released slots and wakes the producer if it sleeps.
// Under DropOldest, where the producer moves the tail too, Release
// publishes each release itself.
func (c *Consumer) flush() {
	if c.r.Policy != DropOldest && c.published != c.pos {
		c.published = c.pos
		c.publish(c.w.tail, c.pos)
		c.wake()
	}
}

// releaseBatch is how many releases a consumer publishes at once.
func releaseBatch(cfg RingConfig) uint64 { return uint64(max(cfg.Slots/8, 1)) }

// Read copies the next frame into b and releases it: one frame per call.
// A frame longer than b is io.ErrShortBuffer, and stays unread. The other
// errors are Next's (with context.Background: only Close or the producer's
// end stop a blocked Read), io.EOF and ErrFault included.
func (c *Consumer) Read(b []byte) (int, error) {
	if c.guarded {
		return protectSide(&c.side, "read", func() (int, error) { return c.read(b) })
	}
	return c.read(b)
}

// read is Read, unguarded.
func (c *Consumer) read(b []byte) (int, error) {
	view, err := c.Next(context.Background())
	if err != nil {
		return 0, err
	}
	if len(view) > len(b) {
		return 0, c.errorf("read a frame of %d bytes into %d: %w", len(view), len(b), io.ErrShortBuffer)
	}
	n := copy(b, view)
	return n, c.Release()
}

// Drops returns how many frames the full-ring policy has dropped so far
// (see FullPolicy).
func (c *Consumer) Drops() uint64 { return c.r.drops() }

// Close tells the producer that nobody reads any more: a Reserve waiting
// on a full ring, and every later one, fails with io.ErrClosedPipe. Close
// interrupts a Next waiting in another goroutine (which then fails with
// ErrRingClosed). A second Close is ErrRingClosed.
//
// Close gives the side up, as closing a pipe's end does: Consumer, in this
// process or another, then takes it again (and the producer's Reserve
// stops failing). While a frame is held (between Next and Release, in
// this goroutine or another), the side is given up by the Release, which
// still releases it (or by another call, which fails with ErrRingClosed),
// or by Ring.Close, so that no release of the old side moves the next
// consumer's position. What was released is published first: the next
// consumer starts after it.
func (c *Consumer) Close() error {
	return c.close(func() { c.w.consClosed.Store(1) })
}
