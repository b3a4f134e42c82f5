package shm

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
	_ "unsafe" // go:linkname

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// monoNow is CLOCK_MONOTONIC in nanoseconds: the same clock in both
// processes (Go's monotonic readings in time.Time are per process). It is
// the runtime's own reading, through the vDSO, without a system call:
// unix.ClockGettime enters the kernel, which here added ~300 ns to every
// one-way figure (half a system call at each end). benchLatency reports
// its cost.
func monoNow() uint64 { return uint64(nanotime()) }

// nanotime is runtime.nanotime, which the runtime keeps reachable by
// linkname for this use.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// sysMonoNow is CLOCK_MONOTONIC through the system call, to compare.
func sysMonoNow() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// clockCost returns what one reading of each clock costs, in nanoseconds.
func clockCost() (vdso, sys float64) {
	const n = 100000
	start := time.Now()
	for range n {
		monoNow()
	}
	vdso = float64(time.Since(start).Nanoseconds()) / n
	start = time.Now()
	for range n {
		sysMonoNow()
	}
	return vdso, float64(time.Since(start).Nanoseconds()) / n
}

// latencyTurns is how many turns the polled ring, its floors and the
// ping-pong take, one after the other, so that a change of the two CPUs'
// placement (or of the machine's load) during the benchmark falls on all
// of them alike, and the ratios are taken turn by turn.
const latencyTurns = 10

// latTurn is one turn's figures (see benchLatency).
type latTurn struct {
	rtt, rtt2              time.Duration
	polled, line, lineStep []uint64
	ringRT, lineRT         roundTrip
}

// benchLatency measures the one-way latency of stamped messages, with a
// consumer that polls and with one that sleeps, beside the round trips of
// a cache line and of a pipe, and beside two floors of the method, in
// turns with the polled ring: the same stamps, taken and stored the same
// way (the ring's release store), into a bare word that this process spins
// on (line: no ring, no poller), and into bare cache lines in the ring's
// order of slots (linestep: as the ring's slots, a line that moves from
// one stamp to the next). Each floor costs one cache line's way and a
// clock reading, and on this machine much more than half the ping-pong's
// round trip. The ping-pong of each turn says in which placement of the
// two CPUs the turn ran (pingpong-min-ns and -max-ns differ by far when
// the placement changed during the run); line-x-pingpong is the method's
// own floor over it, x-pingpong the ring's, each the median of the turns'
// ratios.
//
// The same messages are timed without the clock of the other CPU: this
// process acknowledges each as soon as it sees it, and the helper times
// the round trip from its stamp to the acknowledgement (rt-p50-ns through
// the ring, linert-p50-ns through the bare line). The difference is what
// the ring adds to a line's way; added to half the round trip of two
// lines each written by one side (pingpong2-ns), as the slot and the
// acknowledgement are, it is the ring's one-way latency without a clock
// in the way, over the ping-pong in rt-x-pingpong.
//
// Every figure is a difference of two clock readings, which on this
// machine advance in steps of 10 ns: a median moves by whole steps. The
// trimmed means (*-tm-ns: the mean of the fastest nine tenths) see smaller
// differences, on a quiet machine (when more than a tenth of a series met
// a busy CPU, they measure the scheduler).
func benchLatency(b *testing.B) {
	p, c := startBenchPeer(b, RingConfig{SlotSize: 64, Slots: 1024})
	pipe := p.pipeRoundTrip(b, 2000)
	turns := make([]latTurn, latencyTurns)
	b.ResetTimer()
	for i := range turns {
		// One message every 20 µs: the consumer is still polling when
		// the next comes.
		n := max(b.N*(i+1)/latencyTurns-b.N*i/latencyTurns, 1)
		t := &turns[i]
		t.rtt, t.rtt2 = p.pingPong(b, 2000), p.pingPong2(b, 2000)
		t.polled, t.ringRT = oneWay(b, p, c, n, 20_000)
		t.line, t.lineRT = oneWayLine(b, p, 200, 20_000, 0)
		t.lineStep, _ = oneWayLine(b, p, 200, 20_000, slotStep(floorLines))
	}
	b.StopTimer()
	// One message every 2 ms: the consumer has gone to sleep; so has
	// this process's reader of a pipe, the floor of that wake-up.
	slept, _ := oneWay(b, p, c, min(b.N, 200), 2_000_000)
	sleptPipe := oneWayPipe(b, p, min(b.N, 200), 2_000_000)
	reportPolled(b, turns)
	b.ReportMetric(float64(percentile(slept, 0.50)), "sleep-p50-ns")
	b.ReportMetric(float64(percentile(slept, 0.99)), "sleep-p99-ns")
	b.ReportMetric(float64(percentile(sleptPipe, 0.50)), "sleep-pipe-p50-ns")
	b.ReportMetric(float64(percentile(slept, 0.50))/float64(percentile(sleptPipe, 0.50)), "x-sleep-pipe")
	b.ReportMetric(float64(pipe.Nanoseconds()), "pipe-rtt-ns")
	vdso, sys := clockCost()
	b.ReportMetric(vdso, "clock-ns")
	b.ReportMetric(sys, "sysclock-ns")
}

// reportPolled reports the polled ring's figures and its floors': the
// percentiles and trimmed means of all turns together, and the ratios turn
// by turn (their medians).
func reportPolled(b *testing.B, turns []latTurn) {
	var polled, line, lineStep []uint64
	var rtts, xPing, lineXPing, xLine, xLineStep []float64
	var ringRT, lineRT, ringRTtm, lineRTtm, xPingRT, rtts2 []float64
	for _, t := range turns {
		ringRT, lineRT = append(ringRT, t.ringRT.p50), append(lineRT, t.lineRT.p50)
		ringRTtm, lineRTtm = append(ringRTtm, t.ringRT.tm), append(lineRTtm, t.lineRT.tm)
		// The ring's way without the clocks: its round trip less the
		// bare line's, plus the way of a line that only one side writes
		// (half pingPong2's round trip).
		rtt2 := float64(t.rtt2.Nanoseconds())
		rtts2 = append(rtts2, rtt2)
		xPingRT = append(xPingRT, (t.ringRT.p50-t.lineRT.p50+rtt2/2)/float64(t.rtt.Nanoseconds()))
		polled, line = append(polled, t.polled...), append(line, t.line...)
		lineStep = append(lineStep, t.lineStep...)
		rtt := float64(t.rtt.Nanoseconds())
		p50, lineP50 := float64(percentile(t.polled, 0.5)), float64(percentile(t.line, 0.5))
		rtts = append(rtts, rtt)
		xPing, lineXPing = append(xPing, p50/rtt), append(lineXPing, lineP50/rtt)
		xLine = append(xLine, p50/lineP50)
		xLineStep = append(xLineStep, p50/float64(percentile(t.lineStep, 0.5)))
	}
	// The tenth percentiles: on a shared machine a side often loses its
	// CPU and then sleeps, and the median measures the scheduler; the
	// fastest tenth says what the path costs when both sides run.
	b.ReportMetric(float64(percentile(polled, 0.10)), "poll-p10-ns")
	b.ReportMetric(float64(percentile(polled, 0.50)), "poll-p50-ns")
	b.ReportMetric(float64(percentile(polled, 0.99)), "poll-p99-ns")
	b.ReportMetric(trimmedMean(polled), "poll-tm-ns")
	b.ReportMetric(float64(percentile(line, 0.10)), "line-p10-ns")
	b.ReportMetric(float64(percentile(line, 0.50)), "line-p50-ns")
	b.ReportMetric(trimmedMean(line), "line-tm-ns")
	b.ReportMetric(float64(percentile(lineStep, 0.50)), "linestep-p50-ns")
	b.ReportMetric(trimmedMean(lineStep), "linestep-tm-ns")
	b.ReportMetric(trimmedMean(polled)/trimmedMean(lineStep), "x-linestep-tm")
	b.ReportMetric(median(xLine), "x-line")
	b.ReportMetric(median(xLineStep), "x-linestep")
	b.ReportMetric(median(xPing), "x-pingpong")
	b.ReportMetric(median(lineXPing), "line-x-pingpong")
	b.ReportMetric(median(ringRT), "rt-p50-ns")
	b.ReportMetric(median(lineRT), "linert-p50-ns")
	b.ReportMetric(median(ringRTtm), "rt-tm-ns")
	b.ReportMetric(median(lineRTtm), "linert-tm-ns")
	b.ReportMetric(median(xPingRT), "rt-x-pingpong")
	b.ReportMetric(median(rtts), "pingpong-ns")
	b.ReportMetric(median(rtts2), "pingpong2-ns")
	b.ReportMetric(slices.Min(rtts), "pingpong-min-ns")
	b.ReportMetric(slices.Max(rtts), "pingpong-max-ns")
}

// median returns the median of v (the upper one of an even count).
func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// oneWay has the helper send n stamped messages, each gap nanoseconds
// after this process acknowledged the one before (through the shared
// words: no queue builds up, so each figure is one message's way), and
// returns how long each took from its stamp to its arrival here, and the
// helper's round trips from each stamp to its acknowledgement (see
// roundTrip). One message more goes first and is not counted: after the
// pause between two turns the consumer no longer polls (spin.Recently),
// and the first message would measure a wake-up.
func oneWay(b *testing.B, p *benchPeer, c *Consumer, n, gap int) ([]uint64, roundTrip) {
	ack := (*atomic.Uint64)(unsafe.Pointer(&p.words.Data()[ackWord]))
	ack.Store(0)
	p.send("stamped", n+1, gap)
	lat := make([]uint64, 0, n+1)
	for i := range n + 1 {
		f, err := c.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, monoNow()-binary.LittleEndian.Uint64(f))
		ack.Store(uint64(i + 1))
		c.Release()
	}
	return lat[1:], p.roundTrip(b, "stamped")
}

// roundTrip is the median and the trimmed mean of a helper's round trips:
// from each stamp to the acknowledgement of its arrival here, which this
// process stores just after its own clock reading, both readings the
// helper's own. A round trip through the ring less one through a bare line
// says what the ring adds to a line's way, with no clock of the other CPU
// in the way (this process's reading is in both). The acknowledgement
// comes after the reading: stored before it, it lengthened every one-way
// figure by 11–26 ns here.
type roundTrip struct{ p50, tm float64 }

// roundTrip reads the helper's answer to cmd: its name and its round
// trips' figures.
func (p *benchPeer) roundTrip(b *testing.B, cmd string) roundTrip {
	b.Helper()
	line, err := p.out.ReadString('\n')
	require.NoError(b, err)
	var rt roundTrip
	_, err = fmt.Sscanf(line, cmd+" %g %g", &rt.p50, &rt.tm)
	require.NoError(b, err, "answer %q", line)
	return rt
}

// oneWayLine is oneWay without the ring: the helper stores each stamp into
// a word of the shared array, which this process spins on without
// yielding: with step 0 always the same word (stampWord), otherwise the
// first word of floor line k×step mod floorLines for stamp k.
func oneWayLine(b *testing.B, p *benchPeer, n, gap, step int) ([]uint64, roundTrip) {
	ack := (*atomic.Uint64)(unsafe.Pointer(&p.words.Data()[ackWord]))
	ack.Store(0)
	// Every stamp is taken after this reading (at least gap after the
	// acknowledgement of the one before): what the words hold from
	// before is older.
	last := monoNow()
	p.send("stampedline", n, gap, step)
	lat := make([]uint64, 0, n)
	for i := range n {
		w := stampLine(p.words.Data(), i, step)
		v := w.Load()
		for ; v <= last; v = w.Load() {
		}
		lat = append(lat, monoNow()-v)
		ack.Store(uint64(i + 1))
		last = v
	}
	return lat, p.roundTrip(b, "stampedline")
}

// stampLine is the word that stamp i goes to (see oneWayLine). Stamps only
// grow, so a word holds a new one when it holds more than the last.
func stampLine(words []int64, i, step int) *atomic.Uint64 {
	w := stampWord
	if step != 0 {
		w = floorWord + i*step%floorLines*8
	}
	return (*atomic.Uint64)(unsafe.Pointer(&words[w]))
}

// oneWayPipe is oneWay through the helper's stdout instead of the ring:
// after the same gap, how long a reader that sleeps in a pipe read (through
// the runtime's poller, as pipeRoundTrip's) takes to get a stamp.
func oneWayPipe(b *testing.B, p *benchPeer, n, gap int) []uint64 {
	ack := (*atomic.Uint64)(unsafe.Pointer(&p.words.Data()[ackWord]))
	ack.Store(0)
	p.send("stampedpipe", n, gap)
	lat := make([]uint64, 0, n)
	var buf [8]byte
	for i := range n {
		_, err := io.ReadFull(p.out, buf[:])
		require.NoError(b, err)
		lat = append(lat, monoNow()-binary.LittleEndian.Uint64(buf[:]))
		ack.Store(uint64(i + 1))
	}
	p.expect(b, "stampedpipe")
	return lat
}

func percentile(v []uint64, q float64) uint64 {
	slices.Sort(v)
	return v[int(q*float64(len(v)-1))]
}

// trimmedMean is the mean of the smallest nine tenths of v (at least one).
func trimmedMean(v []uint64) float64 {
	slices.Sort(v)
	v = v[:max(len(v)*9/10, 1)]
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	return sum / float64(len(v))
}
