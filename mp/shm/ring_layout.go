package shm

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// The ring's layout, byte by byte, is in the package documentation (doc.go);
// these constants are its offsets. Every integer is little-endian; the
// counters are 8-byte aligned so that both processes update them with
// single atomic instructions.
const (
	ringMagic   = "mp-ring\x00"
	ringVersion = 3

	offMagic     = 0
	offVersion   = 8
	offPolicy    = 12
	offSlotSize  = 16
	offSlots     = 24
	offStride    = 32
	offData      = 40
	offProdPID   = 48
	offProdStart = 56
	offConsPID   = 64
	offConsStart = 72
	// 1 when that side publishes without a fence: the other side must
	// call membarrier before it sleeps (see ring_fence.go).
	offProdFenceless = 80
	offConsFenceless = 84
	// The slot step M: frame k lives in slot (k×M) mod N (see slotStep).
	offSlotStep = 88
	// The header's constant part, which creation writes and opening
	// checks, ends with the slot step.
	headerConstEnd = 96

	// The producer's line: written by the producer on every commit, read
	// by the consumer only to take over, or by a reader that takes no
	// side.
	offHead  = 128
	offDrops = 136
	// The consumer's line, 128 bytes further: written on every release,
	// read by the producer only when its cached copy says full.
	offTail = 256
	// One line for each side's sleeping flag and closed flag: they change
	// only when that side goes to sleep or closes, so the other side's
	// loads after every commit or release, and while it polls, hit its
	// own cache.
	offProdWaiting = 384
	offClosed      = 388 // uint32: the producer closed (end of stream)
	offProdTakes   = 392 // uint32: how many times a producer took its side
	offConsWaiting = 512
	offConsClosed  = 516 // uint32: the consumer closed

	ringHeaderSize = 4096
	slotHeaderSize = 16 // seq uint64, length uint64; the payload follows

	// holdBit marks the tail while the consumer reads the slot at tail
	// under DropOldest, so that the producer does not discard it.
	holdBit = uint64(1) << 63

	// goldenStep is 2⁶⁴ divided by the golden ratio: slotStep multiplies
	// by it.
	goldenStep = 0x9E3779B97F4A7C15

	// maxSlotSize and maxSlots keep slotSize×slots far from overflowing.
	maxSlotSize = 1 << 32
	maxSlots    = 1 << 24
)

// FullPolicy says what a producer does when the ring is full.
type FullPolicy uint32

const (
	// Block makes the producer wait for the consumer to release a slot
	// (backpressure). It is the zero value.
	Block FullPolicy = iota
	// DropNewest discards the frame being produced: Reserve and Write fail
	// with ErrDropped, and the ring's drop counter grows by one.
	DropNewest
	// DropOldest discards the oldest unread frame to make room, and counts
	// it as a drop. When the consumer is reading that very frame, the new
	// frame is discarded instead (ErrDropped), so a frame is never
	// overwritten while it is being read.
	DropOldest
)

var policyNames = [...]string{"block", "drop-newest", "drop-oldest"}

// String returns the policy's name as ParseFullPolicy and the chapters'
// -policy flags take it: "block", "drop-newest" or "drop-oldest";
// FullPolicy(<n>) for a value that is none of them.
func (p FullPolicy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("FullPolicy(%d)", uint32(p))
}

// ParseFullPolicy returns the policy named "block", "drop-newest" or
// "drop-oldest" (as String writes them); another name is an error wrapping
// ErrBadConfig.
func ParseFullPolicy(s string) (FullPolicy, error) {
	for i, n := range policyNames {
		if n == s {
			return FullPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("shm: %w: policy %q (want block, drop-newest or drop-oldest)", ErrBadConfig, s)
}

// RingConfig is the shape of a ring, fixed at creation.
type RingConfig struct {
	// SlotSize is the largest frame, in bytes: 1 to 4 GiB.
	SlotSize int
	// Slots is the number of slots: a power of two, 1 to 16,777,216.
	Slots int
	// Policy is what a producer does when every slot is full.
	Policy FullPolicy
}

// layout is a ring's geometry, read from the header once and then kept in
// this process: a scribbled header cannot move a slot afterwards.
type layout struct {
	RingConfig
	stride int // bytes from one slot to the next
	step   int // frame k lives in slot k×step mod Slots
	size   int // the whole segment
}

// slotStep returns the slot step of a ring of n slots: the odd number
// nearest below n divided by the golden ratio (1 for one or two slots).
// Frame k lives in slot k×step mod n, so that consecutive frames lie far
// apart in memory, in different pages once the ring has 128 slots or more.
// Slots in the order of frames halved the rate of small frames on the
// machine this is measured on (docs/benchmarks.md): the producer kept only
// a few frames ahead of the consumer, whose CPU's hardware prefetcher,
// which fetches the lines after those a program reads, most likely took
// from the producer's CPU the lines it was about to write.
func slotStep(n int) int {
	hi, _ := bits.Mul64(uint64(n), goldenStep)
	return int(hi | 1)
}

// newLayout checks cfg and computes the geometry.
func newLayout(cfg RingConfig) (layout, error) {
	switch {
	case cfg.SlotSize < 1 || cfg.SlotSize > maxSlotSize:
		return layout{}, fmt.Errorf("%w: slot size %d (want 1 to %d bytes)", ErrBadConfig, cfg.SlotSize, maxSlotSize)
	case cfg.Slots < 1 || cfg.Slots > maxSlots:
		return layout{}, fmt.Errorf("%w: %d slots (want 1 to %d)", ErrBadConfig, cfg.Slots, maxSlots)
	case bits.OnesCount(uint(cfg.Slots)) != 1:
		return layout{}, fmt.Errorf("%w: %d slots is not a power of two", ErrBadConfig, cfg.Slots)
	case cfg.Policy > DropOldest:
		return layout{}, fmt.Errorf("%w: policy %d", ErrBadConfig, uint32(cfg.Policy))
	}
	stride := (slotHeaderSize + cfg.SlotSize + 63) &^ 63
	if stride > (1<<46)/cfg.Slots {
		return layout{}, fmt.Errorf("%w: %d slots of %d bytes is too large", ErrBadConfig, cfg.Slots, cfg.SlotSize)
	}
	return layout{RingConfig: cfg, stride: stride, step: slotStep(cfg.Slots), size: ringHeaderSize + stride*cfg.Slots}, nil
}

// encode returns the header's constant part (the first 96 bytes; the
// sides' PIDs and flags in it are zero).
func (l layout) encode() []byte {
	h := make([]byte, headerConstEnd)
	copy(h, ringMagic)
	binary.LittleEndian.PutUint32(h[offVersion:], ringVersion)
	binary.LittleEndian.PutUint32(h[offPolicy:], uint32(l.Policy))
	binary.LittleEndian.PutUint64(h[offSlotSize:], uint64(l.SlotSize))
	binary.LittleEndian.PutUint64(h[offSlots:], uint64(l.Slots))
	binary.LittleEndian.PutUint64(h[offStride:], uint64(l.stride))
	binary.LittleEndian.PutUint64(h[offData:], ringHeaderSize)
	binary.LittleEndian.PutUint64(h[offSlotStep:], uint64(l.step))
	return h
}

// decodeLayout reads and checks the header at the start of h, a segment of
// fileSize bytes. Anything but a ring of this version and a consistent
// geometry is an error wrapping ErrNotRing.
func decodeLayout(h []byte, fileSize int64) (layout, error) {
	if len(h) < headerConstEnd || fileSize < ringHeaderSize {
		return layout{}, fmt.Errorf("%w: %d bytes is too small for a ring's header", ErrNotRing, fileSize)
	}
	if string(h[:8]) != ringMagic {
		return layout{}, fmt.Errorf("%w: no ring magic %q", ErrNotRing, ringMagic)
	}
	if v := binary.LittleEndian.Uint32(h[offVersion:]); v != ringVersion {
		return layout{}, fmt.Errorf("%w: layout version %d, this program reads %d", ErrNotRing, v, ringVersion)
	}
	u64 := func(off int) int {
		v := binary.LittleEndian.Uint64(h[off:])
		if v > 1<<46 {
			return -1
		}
		return int(v)
	}
	cfg := RingConfig{
		SlotSize: u64(offSlotSize),
		Slots:    u64(offSlots),
		Policy:   FullPolicy(binary.LittleEndian.Uint32(h[offPolicy:])),
	}
	l, err := newLayout(cfg)
	if err != nil {
		return layout{}, fmt.Errorf("%w: %w", ErrNotRing, err)
	}
	if u64(offStride) != l.stride || u64(offData) != ringHeaderSize || fileSize != int64(l.size) {
		return layout{}, fmt.Errorf("%w: header says %d slots of %d bytes (stride %d, data at %d), the segment has %d bytes",
			ErrNotRing, l.Slots, l.SlotSize, u64(offStride), u64(offData), fileSize)
	}
	// Any odd step below the slot count numbers every slot once; the
	// creator's is slotStep's.
	l.step = u64(offSlotStep)
	if l.step < 1 || l.step%2 == 0 || l.step >= max(l.Slots, 2) {
		return layout{}, fmt.Errorf("%w: slot step %d for %d slots (want an odd number below it)", ErrNotRing, l.step, l.Slots)
	}
	return l, nil
}

// words are the header's shared counters and flags in a mapping.
type words struct {
	head                         *uint64 // a plain word: see Producer.Commit
	drops, tail                  *atomic.Uint64
	closed, consClosed           *atomic.Uint32
	prodTakes                    *atomic.Uint32
	prodWaiting, consWaiting     *atomic.Uint32
	prodFenceless, consFenceless *atomic.Uint32
	prodPID, prodStart           *atomic.Uint64
	consPID, consStart           *atomic.Uint64
	base                         unsafe.Pointer
	stride, slotSize, mask, data uintptr
	step                         uintptr
}

func newWords(mem []byte, l layout) *words {
	base := unsafe.Pointer(unsafe.SliceData(mem))
	u64 := func(off uintptr) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Add(base, off)) }
	u32 := func(off uintptr) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Add(base, off)) }
	return &words{
		head: (*uint64)(unsafe.Add(base, offHead)), drops: u64(offDrops), tail: u64(offTail),
		closed: u32(offClosed), consClosed: u32(offConsClosed), prodTakes: u32(offProdTakes),
		prodWaiting: u32(offProdWaiting), consWaiting: u32(offConsWaiting),
		prodFenceless: u32(offProdFenceless), consFenceless: u32(offConsFenceless),
		prodPID: u64(offProdPID), prodStart: u64(offProdStart),
		consPID: u64(offConsPID), consStart: u64(offConsStart),
		base: base, stride: uintptr(l.stride), slotSize: uintptr(l.SlotSize),
		mask: uintptr(l.Slots - 1), data: ringHeaderSize, step: uintptr(l.step),
	}
}

// slot returns the sequence word, the length word and the payload of the
// slot that holds position pos (slot pos×step mod Slots). The length, like
// the payload, is plain memory: the sequence number's atomic store
// publishes both.
func (w *words) slot(pos uint64) (seq *atomic.Uint64, length *uint64, payload []byte) {
	p := unsafe.Add(w.base, w.data+(uintptr(pos)*w.step&w.mask)*w.stride)
	return (*atomic.Uint64)(p), (*uint64)(unsafe.Add(p, 8)),
		unsafe.Slice((*byte)(unsafe.Add(p, slotHeaderSize)), w.slotSize)
}
