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
	floorChunk   = 1024 // messages per timed run (a multiple of the position's batch)
	floorMsgs    = 1 << 20
)

// lineStream measures the floor of BenchmarkRing/msg=64B: the rate at
// which the helper can pass messages to this process when a message is
// nothing but one number stored into a shared cache line. The helper
// stores message i's number (i+1) into consecutive 64-byte lines of the
// shared array, perLine numbers to a line (1: one message per line, as a
// 64-byte frame fills one; 2: two 32-byte messages per line), and this
// process spins on each until it reads its number (a later number there
// fails the benchmark: a line overwritten unread). Shared besides is only
// what keeps the helper from overwriting unread lines: this process
// publishes its position once every eighth of the lines, and the helper
// reads it only when its last copy says all lines are full, as the ring
// hands back its slots. Both store with the ring's release store
// (storeRelease, a plain MOV on amd64). The lines follow one another in
// address order (step 1), or in the ring's order (step slotStep(floorLines):
// message k in line k×step mod floorLines, far from the lines of the
// messages before and after it; see slotStep). There is no header, length, wake
// flag or closed flag: each line still has to cross from the helper's CPU
// to this one, as a ring's slot does, so a ring that carries one frame per
// line cannot beat this rate while both processes run.
//
// It returns the median rate of its runs of floorChunk messages, each
// timed apart. Both sides spin without ever giving up their CPU, so on a
// shared machine a side that lost its CPU leaves the other spinning until
// the scheduler turns, and the whole stream's rate measures the scheduler
// (0.4–13 M msgs/s, median 4, at a load average of 5–9 here in the far
// placement, where the ring, whose sides sleep, gave 6–8 and the median
// run 14). Such a pause, and the burst of lines read when the consumer
// comes back, fall into one run each, so the median is the rate while
// both sides run, unless they seldom run at once (then it measures the
// scheduler too).
func lineStream(b *testing.B, p *benchPeer, n, perLine, step int) float64 {
	words := p.words.Data()
	pos := (*uint64)(unsafe.Pointer(&words[floorPosWord]))
	// The numbers of an earlier stream must not pass for this one's.
	atomic.StoreUint64(pos, 0)
	for i := floorWord; i < benchWords; i++ {
		atomic.StoreInt64(&words[i], 0)
	}
	shift := uint(perLine / 2) // perLine is 1 or 2
	batch := uint64(floorLines<<shift) / 8
	chunks := make([]uint64, 0, n/floorChunk)
	start := time.Now()
	last := start
	p.send("lines", n, perLine, step)
	for i := range uint64(n) {
		w := floorMessage(words, i, shift, uint64(step))
		for v := atomic.LoadUint64(w); v != i+1; v = atomic.LoadUint64(w) {
			if v > i+1 {
				b.Fatalf("line stream: the line of message %d holds message %d: overwritten unread", i, v-1)
			}
		}
		if (i+1)&(batch-1) == 0 {
			storeRelease(pos, i+1)
			if (i+1)%floorChunk == 0 {
				now := time.Now()
				chunks = append(chunks, uint64(now.Sub(last)))
				last = now
			}
		}
	}
	elapsed := time.Since(start)
	p.expect(b, "lines")
	if len(chunks) < 10 {
		return float64(n) / elapsed.Seconds()
	}
	return floorChunk / (float64(percentile(chunks, 0.50)) / 1e9)
}

// produceLines is the helper's side of lineStream: n messages, perLine to
// a line, lines in the order of step.
func produceLines(words []int64, n, perLine, step int) {
	pos := (*uint64)(unsafe.Pointer(&words[floorPosWord]))
	shift := uint(perLine / 2)
	room := uint64(floorLines << shift)
	var read uint64 // the consumer's position, as last read
	for i := range uint64(n) {
		for i-read >= room {
			read = atomic.LoadUint64(pos)
		}
		storeRelease(floorMessage(words, i, shift, uint64(step)), i+1)
	}
}

// floorMessage returns the word of message i of the line stream, with
// 1<<shift messages to a line, lines in the order of step: masks, shifts
// and a multiplication, so that finding it costs next to nothing beside
// the line's crossing.
func floorMessage(words []int64, i uint64, shift uint, step uint64) *uint64 {
	k := i & (floorLines<<shift - 1)
	line := k >> shift * step & (floorLines - 1)
	at := floorWord + line*8 + k&(1<<shift-1)*(8>>shift)
	return (*uint64)(unsafe.Pointer(&words[at]))
}
