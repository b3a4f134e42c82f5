package shm

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// benchMessages streams numbered 64-byte messages, written in place,
// beside its floor: as many messages through bare cache lines, one to a
// line and two to a line, lines in address order, and one to a line in
// the ring's order of slots (lineStream), between the same two processes
// just before (floorMsgs messages each: enough runs for a median, and on
// a busy machine the spinning floor's time grows with the scheduler's).
// x-floor is the ring's rate over the first, x-floorstep over the last;
// x-floor-med is the median rate of its runs of floorChunk messages (as
// the floors are measured) over the first.
func benchMessages(b *testing.B) {
	p, c := startBenchPeer(b, RingConfig{SlotSize: 64, Slots: 1024})
	rtt := p.pingPong(b, 20000)
	floor := lineStream(b, p, min(b.N, floorMsgs), 1, 1)
	floor2 := lineStream(b, p, min(b.N, floorMsgs), 2, 1)
	// The stream in the ring's order runs at one of two rates here, the
	// slower one the address order's (in some placements of the two
	// CPUs every time): the faster of two streams.
	floorStep := max(lineStream(b, p, min(b.N, floorMsgs), 1, slotStep(floorLines)),
		lineStream(b, p, min(b.N, floorMsgs), 1, slotStep(floorLines)))
	cons, prod := processCPU(), p.cpu(b)
	chunks := make([]uint64, 0, b.N/floorChunk)
	b.ResetTimer()
	p.send("msgs", b.N)
	last := time.Now()
	for i := range b.N {
		f, err := c.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if binary.LittleEndian.Uint64(f) != uint64(i) {
			b.Fatalf("message %d instead of %d", binary.LittleEndian.Uint64(f), i)
		}
		c.Release()
		if (i+1)%floorChunk == 0 {
			now := time.Now()
			chunks = append(chunks, uint64(now.Sub(last)))
			last = now
		}
	}
	b.StopTimer()
	p.expect(b, "msgs")
	consCPU, prodCPU := processCPU()-cons, p.cpu(b)-prod
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(float64(rtt.Nanoseconds()), "pingpong-ns")
	// The placement can change within seconds: the round trip once more,
	// after the ring. A run whose two differ changed placement meanwhile.
	b.ReportMetric(float64(p.pingPong(b, 20000).Nanoseconds()), "pingpong-end-ns")
	b.ReportMetric(floor, "floor-msgs/s")
	b.ReportMetric(rate/floor, "x-floor")
	b.ReportMetric(floor2, "floor2-msgs/s")
	b.ReportMetric(floorStep, "floorstep-msgs/s")
	b.ReportMetric(rate/floorStep, "x-floorstep")
	// The ring's rate measured as the floors are: the median of its runs
	// of floorChunk messages, the rate while both sides run (on a busy
	// machine the whole stream's rate includes the scheduler's pauses).
	if len(chunks) >= 10 {
		med := floorChunk / (float64(percentile(chunks, 0.50)) / 1e9)
		b.ReportMetric(med, "med-msgs/s")
		b.ReportMetric(med/floor, "x-floor-med")
	}
	// The CPU time each process spent per message (polling included),
	// over the ring's messages only:
	// on a busy machine the rate measures the share of the CPUs the two
	// processes got, and these say what a message costs them while they
	// run; on a quiet one they come close to the time per message.
	b.ReportMetric(float64(consCPU)/float64(b.N), "cons-cpu-ns/msg")
	b.ReportMetric(float64(prodCPU)/float64(b.N), "prod-cpu-ns/msg")
}

// processCPU returns the CPU time this process has used, in nanoseconds.
func processCPU() int64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// cpu returns the CPU time the helper has used, in nanoseconds.
func (p *benchPeer) cpu(b *testing.B) int64 {
	b.Helper()
	p.send("cpu")
	line, err := p.out.ReadString('\n')
	require.NoError(b, err)
	f := strings.Fields(line)
	require.Len(b, f, 2, "the helper's reply %q", line)
	n, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(b, err)
	return n
}
