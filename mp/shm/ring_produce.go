package shm

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Producer is the writing side of a ring. It is used by one goroutine at a
// time; Close may be called from another, to interrupt a wait.
//
// Reserve and Commit take a short way while a slot is free: a few loads
// and the frame's stores; everything else is in functions of their own.
type Producer struct {
	side
	pos  uint64 // the position of the next frame: private, never read back
	tail uint64 // the consumer's position, as last read
}

// Producer takes the producing side of the ring for this process. The
// consumer, if it waits for somebody to produce, is woken. A producer that
// takes the side from one that closed it (this process's included: see
// Producer.Close) or from a process that is gone goes on after the last
// frame committed; if the side was closed, the stream is open again: the
// consumer reads the new frames (after the io.EOF it may have had). It
// fails with ErrBusy while a live process (this one included) holds the
// side, with ErrRingClosed after Close, and with the error of the check
// when whether the process that produced is alive cannot be told.
func (r *Ring) Producer() (*Producer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.prod != nil {
		if !r.prod.gaveUp.Load() {
			return nil, fmt.Errorf("shm: ring %q producer: %w: %w", r.name, ErrBusy, errTaken)
		}
		r.prod.retire()
		r.prod = nil
	}
	p := &Producer{}
	if err := r.initSide(&p.side, "producer", r.spaceFD, r.dataFD); err != nil {
		return nil, err
	}
	w := r.words
	p.waiting, p.peerWaiting, p.ownClosed = w.prodWaiting, w.consWaiting, w.closed
	p.ownFenceless, p.peerFenceless = w.prodFenceless, w.consFenceless
	p.peer = newPeer(w.consPID, w.consStart)
	p.takes = w.prodTakes
	if _, err := protectSide(&p.side, "take", func() (struct{}, error) { return struct{}{}, p.takeSide() }); err != nil {
		p.peer.close()
		unix.Close(p.cancelFD)
		return nil, err
	}
	r.prod = p
	return p, nil
}

// takeSide finds where the producer goes on from, and takes the side.
func (p *Producer) takeSide() error {
	w := p.w
	if err := p.attach(w.prodPID, w.prodStart, p.resume); err != nil {
		return err
	}
	atomic.StoreUint64(w.head, p.pos)
	return nil
}

// resume finds where the producer goes on from; attach runs it once the
// side is known free.
func (p *Producer) resume() error {
	r, w := p.r, p.w
	// A producer that takes over from one that died goes on from the last
	// committed frame: head, and the frame after it if its sequence
	// number says it was committed (the dead one may have died between
	// the two stores of Commit; the sequence number is the commit).
	p.pos = atomic.LoadUint64(w.head)
	p.tail = w.tail.Load() &^ holdBit
	if seq, _, _ := w.slot(p.pos); p.pos < p.tail+uint64(r.Slots) && seq.Load() == p.pos+1 {
		p.pos++
	}
	if p.tail > p.pos || p.pos-p.tail > uint64(r.Slots) {
		return p.errorf("%w: head %d, tail %d, %d slots", ErrCorrupt, p.pos, p.tail, r.Slots)
	}
	return nil
}

// Reserve returns the payload of the next free slot (SlotSize bytes), for
// the frame to be written in place and then published with Commit. While
// the ring is full it waits (Block), or fails with an error wrapping
// ErrDropped (DropNewest, and DropOldest when the oldest frame is being
// read); DropOldest otherwise discards the oldest unread frame. Calling it
// again before Commit returns the same slot.
//
// Reserve fails with ctx's error when ctx ends, io.ErrClosedPipe when the
// consumer closed its side, an error wrapping ErrPeerDied when the
// consumer's process died, ErrRingClosed after Close, and ErrCorrupt when
// the shared counters hold impossible values. On a named ring whose
// segment another process shrank, it fails with an error wrapping
// ErrFault; the slot it returns is the caller's to write, unguarded (see
// ErrFault).
func (p *Producer) Reserve(ctx context.Context) ([]byte, error) {
	if p.held != 0 || p.guarded || p.pos-p.tail >= uint64(p.r.Slots) || p.w.consClosed.Load() != 0 {
		return protectSide(&p.side, "reserve", func() ([]byte, error) { return p.reserve(ctx) })
	}
	// Held before the look at closed: see side.close.
	p.setHeld(1)
	if p.closed.Load() {
		return nil, p.closedError("reserve")
	}
	_, _, payload := p.w.slot(p.pos)
	return payload, nil
}

// closedError is the error of a call that finds the side closed: the slot
// it held, if any, is abandoned, and the side given up (see side.close).
func (p *Producer) closedError(op string) error {
	p.setHeld(0)
	p.giveUp()
	return p.errorf("%s: %w", op, ErrRingClosed)
}

// reserve is Reserve when a slot is reserved already, a side closed, the
// cached tail says full, or the memory may shrink.
func (p *Producer) reserve(ctx context.Context) ([]byte, error) {
	p.slow.Lock()
	defer p.slow.Unlock()
	if p.closed.Load() {
		return nil, p.closedError("reserve")
	}
	if p.held == 0 {
		if p.w.consClosed.Load() != 0 {
			return nil, p.errorf("reserve: %w: the consumer closed its side", io.ErrClosedPipe)
		}
		if p.pos-p.tail >= uint64(p.r.Slots) {
			if err := p.makeRoom(ctx); err != nil {
				return nil, err
			}
		}
		p.setHeld(1)
		if p.closed.Load() {
			return nil, p.closedError("reserve")
		}
	}
	_, _, payload := p.w.slot(p.pos)
	return payload, nil
}

// makeRoom gets a free slot when the cached tail says full.
func (p *Producer) makeRoom(ctx context.Context) error {
	ok, err := p.space()
	if ok || err != nil {
		return err
	}
	switch p.r.Policy {
	case DropNewest:
		p.w.drops.Add(1)
		return p.errorf("reserve: %w", ErrDropped)
	case DropOldest:
		return p.dropOldest()
	}
	return p.wait(ctx, p.space)
}

// space reloads the consumer's position and reports whether a slot is
// free; a closed consumer is io.ErrClosedPipe.
func (p *Producer) space() (bool, error) {
	if p.w.consClosed.Load() != 0 {
		return false, p.errorf("%w: the consumer closed its side", io.ErrClosedPipe)
	}
	t := p.w.tail.Load() &^ holdBit
	if t < p.tail || t > p.pos {
		return false, p.errorf("%w: the consumer's position went from %d to %d, with %d frames produced", ErrCorrupt, p.tail, t, p.pos)
	}
	p.tail = t
	return p.pos-t < uint64(p.r.Slots), nil
}

// dropOldest discards the frame at the consumer's position, unless the
// consumer holds it; then it drops the new frame. The consumer only ever
// moves its position forward, so this loops at most a few times.
func (p *Producer) dropOldest() error {
	for range 8 {
		if ok, err := p.space(); ok || err != nil {
			return err
		}
		raw := p.w.tail.Load()
		if raw&holdBit != 0 {
			break
		}
		if p.w.tail.CompareAndSwap(raw, raw+1) {
			p.w.drops.Add(1)
			p.tail = raw + 1
			return nil
		}
	}
	p.w.drops.Add(1)
	return p.errorf("reserve: %w", ErrDropped)
}

// Commit publishes the first n bytes of the reserved slot as a frame and
// wakes the consumer if it sleeps. It fails with ErrFrameTooLarge when n
// is negative or larger than the slot (the slot stays reserved), and with
// os.ErrInvalid when nothing is reserved, and with an error wrapping
// ErrFault on a fault on the mapping. A Commit that returns nil is read
// before io.EOF, even against a Close in another goroutine; one that Close
// overtook fails with ErrRingClosed (see closedDuringCommit).
func (p *Producer) Commit(n int) error {
	if p.held == 0 || uint(n) > uint(p.r.SlotSize) || p.closed.Load() || p.guarded || beforePublish != nil {
		return p.commit(n)
	}
	// publishFrame's body, written out: a call costs a nanosecond here.
	seq, length, _ := p.w.slot(p.pos)
	*length = uint64(n)
	p.publish(seq, p.pos+1)
	p.pos++
	*p.w.head = p.pos
	if beforeLook != nil || p.peerWaiting.Load() != 0 {
		p.wake()
	}
	// The last of the frame's accesses to the ring: see side.close.
	p.setHeld(0)
	if p.closed.Load() {
		return p.closedDuringCommit()
	}
	return nil
}

// commit is Commit but for the short way: its errors, a ring whose memory
// may shrink, and the test hook.
func (p *Producer) commit(n int) error {
	_, err := protectSide(&p.side, "commit", func() (struct{}, error) {
		if err := p.commitError(n); err != nil {
			return struct{}{}, err
		}
		if beforePublish != nil {
			beforePublish()
		}
		p.publishFrame(n)
		if p.closed.Load() {
			return struct{}{}, p.closedDuringCommit()
		}
		return struct{}{}, nil
	})
	return err
}

// beforePublish, if set, runs in Commit between its look at the closed
// flag and the publication of the frame: a test's way to close the
// producer from another goroutine in between.
var beforePublish func()

// closedDuringCommit is Commit's error when Close, in another goroutine,
// set the closed flag between Commit's first look at it and its second,
// after the frame was published: the consumer may have taken the end of
// the stream for io.EOF before the frame arrived, and then never reads it
// (Next stays at io.EOF, see Consumer.Next), or read it in time.
//
// A Commit that finds the flag clear the second time has its frame read
// before io.EOF: its sequence number was stored before that look, and
// Close stores the end of the stream in the header only after its swap of
// the flag, a full fence, and, when this process publishes without
// fences, a membarrier that runs a full fence on the committing thread's
// CPU (as a side about to sleep does: see ring_fence.go). So either the
// look sees the flag, or the sequence number is visible before the end.
//
// Close left the giving up of the side to this Commit (the slot was held
// when it looked): it happens here, after the frame's last store.
func (p *Producer) closedDuringCommit() error {
	p.giveUp()
	return p.errorf("commit: %w by another goroutine meanwhile: the frame may not be read", ErrRingClosed)
}

// publishFrame publishes the first n bytes of the reserved slot.
func (p *Producer) publishFrame(n int) {
	seq, length, _ := p.w.slot(p.pos)
	*length = uint64(n)
	// The sequence number is written last, with a release store: a
	// consumer that sees it sees the whole frame and its length. It is the
	// one ordered store of a commit, and no fence (see ring_fence.go);
	// head, which no side waits on (it is for takeover and for readers
	// such as aux/ring_read.py), is a plain store.
	p.publish(seq, p.pos+1)
	p.pos++
	*p.w.head = p.pos
	if beforeLook != nil || p.peerWaiting.Load() != 0 {
		p.wake()
	}
	// The last of the frame's accesses to the ring: see side.close.
	p.setHeld(0)
}

// commitError is why Commit(n) does not publish: nothing reserved, the
// side closed (which abandons the slot), or n out of bounds (the slot
// stays reserved); nil if none of them.
func (p *Producer) commitError(n int) error {
	switch {
	case p.held == 0:
		return p.errorf("commit: nothing reserved: %w", errInvalid)
	case p.closed.Load():
		return p.closedError("commit")
	case uint(n) > uint(p.r.SlotSize):
		return p.errorf("commit %d bytes: %w of %d bytes", n, ErrFrameTooLarge, p.r.SlotSize)
	}
	return nil
}

// Write copies b into a slot and commits it: one frame per call. A frame
// larger than a slot is ErrFrameTooLarge, and nothing is written; the
// other errors are Reserve's (with context.Background: only Close or the
// consumer's end stop a blocked Write), a fault on the mapping included.
func (p *Producer) Write(b []byte) (int, error) {
	if len(b) > p.r.SlotSize {
		return 0, p.errorf("write %d bytes: %w of %d bytes", len(b), ErrFrameTooLarge, p.r.SlotSize)
	}
	if p.guarded {
		return protectSide(&p.side, "write", func() (int, error) { return p.write(b) })
	}
	return p.write(b)
}

// write is Write once b fits.
func (p *Producer) write(b []byte) (int, error) {
	buf, err := p.Reserve(context.Background())
	if err != nil {
		return 0, err
	}
	copy(buf, b)
	if err := p.Commit(len(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close ends the stream: the consumer reads what was committed, then gets
// io.EOF. A slot reserved and not committed is abandoned: the consumer
// never sees it (Commit after Close fails with ErrRingClosed). Close
// interrupts a Reserve waiting in another goroutine (which then fails with
// ErrRingClosed); a Commit running in another goroutine either has its
// frame read before io.EOF or fails with ErrRingClosed. A second Close is
// ErrRingClosed.
//
// Close gives the side up, as closing a pipe's end does: Producer, in this
// process or another, then takes it again (and reopens the stream). While
// a slot is reserved (between Reserve and Commit, in this goroutine or
// another), the side is given up by the next call instead (Commit, which
// then fails with ErrRingClosed), or by Ring.Close, so that no write into
// that slot lands in a frame of the next producer's.
func (p *Producer) Close() error {
	// Close may run beside the producing goroutine: it touches only the
	// shared flags, and Commit checks them (see closedDuringCommit).
	return p.close(func() { p.w.closed.Store(1) })
}
