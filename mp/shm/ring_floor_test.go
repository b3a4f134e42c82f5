package shm

import (
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// The line stream, BenchmarkRing/msg=64B's floor, uses the shared words
// after the benchmarks' first eight lines: the consumer's position on a
// line of its own (floorPosWord), then floorLines cache lines of messages
// from floorWord on. benchWords is the length of the shared array.
const (
	floorPosWord = 24
	floorWord    = 64
	floorLines   = 1024
	benchWords   = floorWord + floorLines*8
)

// lineStream measures the floor of BenchmarkRing/msg=64B: how many
// messages a second the helper can pass to this process when each message
// is one store into a cache line and nothing else. The helper writes
// message i's number (i+1) into consecutive 64-byte lines of the shared
// array, perLine messages to a line (8 or 32 bytes each: 1 gives one line
// per message, as a 64-byte frame is; 2 gives two 32-byte messages a
// line), and this process spins on each until it reads its number. Only
// what keeps the helper from overwriting unread lines is shared besides:
// this process publishes its position once every eighth of the lines, and
// the helper reads it only when its last copy says all lines are full,
// as the ring hands back its slots. There is no header, no length, no wake
// flag, no check of a closed side: what is left is the cache lines that
// cross between the two CPUs, which any ring that writes its frames into
// shared lines pays too. It returns messages per second, timed from the
// command to the last message, as the ring's rate is.
func lineStream(b *testing.B, p *benchPeer, n, perLine int) float64 {
	words := p.words.Data()
	pos := (*atomic.Uint64)(unsafe.Pointer(&words[floorPosWord]))
	// The numbers of an earlier stream must not pass for this one's.
	pos.Store(0)
	for i := floorWord; i < benchWords; i++ {
		(*atomic.Uint64)(unsafe.Pointer(&words[i])).Store(0)
	}
	shift := uint(perLine / 2) // perLine is 1 or 2
	batch := uint64(floorLines<<shift) / 8
	start := time.Now()
	p.send("lines", n, perLine)
	for i := range uint64(n) {
		w := floorMessage(words, i, shift)
		for w.Load() != i+1 {
		}
		if (i+1)&(batch-1) == 0 {
			pos.Store(i + 1)
		}
	}
	elapsed := time.Since(start)
	p.expect(b, "lines")
	return float64(n) / elapsed.Seconds()
}

// produceLines is the helper's side of lineStream: n messages, perLine to
// a line.
func produceLines(words []int64, n, perLine int) {
	pos := (*atomic.Uint64)(unsafe.Pointer(&words[floorPosWord]))
	shift := uint(perLine / 2)
	room := uint64(floorLines << shift)
	var read uint64 // the consumer's position, as last read
	for i := range uint64(n) {
		for i-read >= room {
			read = pos.Load()
		}
		floorMessage(words, i, shift).Store(i + 1)
	}
}

// floorMessage returns the word of message i of the line stream, with
// 1<<shift messages to a line: masks and shifts, so that finding it costs
// next to nothing beside the line's crossing.
func floorMessage(words []int64, i uint64, shift uint) *atomic.Uint64 {
	k := i & (floorLines<<shift - 1)
	at := floorWord + k>>shift*8 + k&(1<<shift-1)*(8>>shift)
	return (*atomic.Uint64)(unsafe.Pointer(&words[at]))
}
