package shm

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
	_ "unsafe" // go:linkname

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The ring's benchmarks run the producer in another process (the test
// binary again, helper mode "ringbench"), which takes commands on its
// stdin; this process consumes. Ratios matter more than figures on a shared
// machine: compare BenchmarkRing/frame=1MiB with BenchmarkMemmove/1MiB and
// BenchmarkPipeStream/1MiB of the same run, BenchmarkRing/msg=64B with
// the floor it reports (x-floor: the ring's rate over a bare stream of
// cache lines, lineStream), and it and /latency with the ping-pong and
// pipe round trips they report:
//
//	go test -run '^$' -bench 'Ring|Memmove|PipeStream' -count 3 ./mp/shm

const benchSlots1MiB = 8

// The words of the shared array that the benchmarks use, each on a cache
// line of its own: the ping-pong's, the acknowledgement of a stamped
// message, and the bare stamp (oneWayLine); lineStream's follow.
const (
	pingWord  = 0
	ackWord   = 8
	stampWord = 16
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

// benchPeer is the producing process and the words it shares with this one
// for the ping-pong (an anonymous array, its file 6).
type benchPeer struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	words *Array[int64]
}

func startBenchPeer(b *testing.B, cfg RingConfig) (*benchPeer, *Consumer) {
	b.Helper()
	r, err := CreateRingAnon("bench", cfg)
	require.NoError(b, err)
	b.Cleanup(func() { r.Close() })
	c, err := r.Consumer()
	require.NoError(b, err)
	words, err := CreateAnon[int64]("pingpong", benchWords)
	require.NoError(b, err)
	b.Cleanup(func() { words.Close() })
	files, err := r.Files()
	require.NoError(b, err)
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=ringbench")
	cmd.ExtraFiles = append(slices.Clone(files), words.File())
	cmd.Stderr = os.Stderr
	// The helper spins while it waits for this process: it must not
	// outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	require.NoError(b, err)
	out, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	p := &benchPeer{cmd: cmd, in: in, out: bufio.NewReader(out), words: words}
	b.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	p.expect(b, "ready")
	return p, c
}

func (p *benchPeer) send(cmd string, args ...int) {
	for _, a := range args {
		cmd += " " + strconv.Itoa(a)
	}
	io.WriteString(p.in, cmd+"\n")
}

func (p *benchPeer) expect(b *testing.B, want string) {
	b.Helper()
	line, err := p.out.ReadString('\n')
	require.NoError(b, err)
	require.Equal(b, want, strings.TrimSpace(line))
}

// pingPong returns the round trip of one cache line between the two
// processes: each waits for the other's number, then writes its own. It is
// the fastest of 20 batches of rounds/20: a batch in which a process lost
// its CPU measures the scheduler, not the placement of the two CPUs.
func (p *benchPeer) pingPong(b *testing.B, rounds int) time.Duration {
	w := (*atomic.Uint64)(unsafe.Pointer(&p.words.Data()[pingWord]))
	w.Store(0)
	p.send("pingpong", rounds)
	p.expect(b, "pingpong")
	best := time.Duration(1 << 62)
	batch := uint64(rounds / 20)
	for i := uint64(0); i < uint64(rounds); {
		start := time.Now()
		for end := i + batch; i < end; i++ {
			w.Store(2*i + 1)
			for w.Load() != 2*i+2 {
			}
		}
		best = min(best, time.Since(start)/time.Duration(batch))
	}
	return best
}

// pipeRoundTrip returns the round trip of one byte through the helper's
// stdin and stdout: blocking reads on both sides.
func (p *benchPeer) pipeRoundTrip(b *testing.B, rounds int) time.Duration {
	p.send("echo", rounds)
	p.expect(b, "echo")
	start := time.Now()
	for range rounds {
		p.in.Write([]byte{1})
		_, err := p.out.ReadByte()
		require.NoError(b, err)
	}
	return time.Since(start) / time.Duration(rounds)
}

func BenchmarkRing(b *testing.B) {
	b.Run("frame=1MiB", func(b *testing.B) {
		p, c := startBenchPeer(b, RingConfig{SlotSize: 1 << 20, Slots: benchSlots1MiB})
		b.SetBytes(1 << 20)
		b.ResetTimer()
		p.send("frames", b.N)
		var total int64
		for range b.N {
			f, err := c.Next(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			total += sum(unsafe.Slice((*int64)(unsafe.Pointer(&f[0])), len(f)/8))
			c.Release()
		}
		b.StopTimer()
		p.expect(b, "frames")
		require.NotZero(b, total)
	})
	b.Run("msg=64B", benchMessages)
	b.Run("latency", benchLatency)
}

// benchLatency measures the one-way latency of stamped messages, with a
// consumer that polls and with one that sleeps, beside the round trips of
// a cache line and of a pipe, and beside the floor of the method: the
// same stamps stored into a bare word that this process spins on (no ring,
// no poller), which costs one cache line's way and a clock reading.
func benchLatency(b *testing.B) {
	p, c := startBenchPeer(b, RingConfig{SlotSize: 64, Slots: 1024})
	rtt := p.pingPong(b, 20000)
	pipe := p.pipeRoundTrip(b, 2000)
	line := oneWayLine(b, p, 2000, 20_000)
	// One message every 20 µs: the consumer is still polling when
	// the next comes.
	b.ResetTimer()
	polled := oneWay(b, p, c, b.N, 20_000)
	b.StopTimer()
	// One message every 2 ms: the consumer has gone to sleep; so has
	// this process's reader of a pipe, the floor of that wake-up.
	slept := oneWay(b, p, c, min(b.N, 200), 2_000_000)
	sleptPipe := oneWayPipe(b, p, min(b.N, 200), 2_000_000)
	// The tenth percentiles: on a shared machine a side often loses its
	// CPU and then sleeps, and the median measures the scheduler; the
	// fastest tenth says what the path costs when both sides run.
	b.ReportMetric(float64(percentile(polled, 0.10)), "poll-p10-ns")
	b.ReportMetric(float64(percentile(polled, 0.50)), "poll-p50-ns")
	b.ReportMetric(float64(percentile(polled, 0.99)), "poll-p99-ns")
	b.ReportMetric(float64(percentile(line, 0.10)), "line-p10-ns")
	b.ReportMetric(float64(percentile(line, 0.50)), "line-p50-ns")
	b.ReportMetric(float64(percentile(slept, 0.50)), "sleep-p50-ns")
	b.ReportMetric(float64(percentile(slept, 0.99)), "sleep-p99-ns")
	b.ReportMetric(float64(percentile(sleptPipe, 0.50)), "sleep-pipe-p50-ns")
	b.ReportMetric(float64(percentile(slept, 0.50))/float64(percentile(sleptPipe, 0.50)), "x-sleep-pipe")
	b.ReportMetric(float64(rtt.Nanoseconds()), "pingpong-ns")
	b.ReportMetric(float64(pipe.Nanoseconds()), "pipe-rtt-ns")
	vdso, sys := clockCost()
	b.ReportMetric(vdso, "clock-ns")
	b.ReportMetric(sys, "sysclock-ns")
}

// oneWay has the helper send n stamped messages, each gap nanoseconds
// after this process acknowledged the one before (through the shared
// words: no queue builds up, so each figure is one message's way), and
// returns how long each took from its stamp to its arrival here.
func oneWay(b *testing.B, p *benchPeer, c *Consumer, n, gap int) []uint64 {
	ack := (*atomic.Uint64)(unsafe.Pointer(&p.words.Data()[ackWord]))
	ack.Store(0)
	p.send("stamped", n, gap)
	lat := make([]uint64, 0, n)
	for i := range n {
		f, err := c.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, monoNow()-binary.LittleEndian.Uint64(f))
		c.Release()
		ack.Store(uint64(i + 1))
	}
	p.expect(b, "stamped")
	return lat
}

// oneWayLine is oneWay without the ring: the helper stores each stamp into
// a word of the shared array, which this process spins on without
// yielding.
func oneWayLine(b *testing.B, p *benchPeer, n, gap int) []uint64 {
	ack := (*atomic.Uint64)(unsafe.Pointer(&p.words.Data()[ackWord]))
	line := (*atomic.Uint64)(unsafe.Pointer(&p.words.Data()[stampWord]))
	ack.Store(0)
	line.Store(0)
	p.send("stampedline", n, gap)
	lat := make([]uint64, 0, n)
	last := uint64(0)
	for i := range n {
		v := line.Load()
		for ; v == last; v = line.Load() {
		}
		lat = append(lat, monoNow()-v)
		last = v
		ack.Store(uint64(i + 1))
	}
	p.expect(b, "stampedline")
	return lat
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

// BenchmarkMemmove is the floor for BenchmarkRing/frame=1MiB: Go's copy of
// 1 MiB frames into as many buffers as the ring has slots, in one process.
func BenchmarkMemmove(b *testing.B) {
	b.Run("1MiB", func(b *testing.B) {
		src := make([]byte, 1<<20)
		fill(src, 7)
		dst := make([][]byte, benchSlots1MiB)
		for i := range dst {
			dst[i] = make([]byte, 1<<20)
			fill(dst[i], 1)
		}
		b.SetBytes(1 << 20)
		b.ResetTimer()
		for i := range b.N {
			copy(dst[i%len(dst)], src)
		}
	})
}

// BenchmarkPipeStream sends the same frames as BenchmarkRing/frame=1MiB
// through a pipe: the helper fills a frame and writes it to its stdout, this
// process reads it and sums it.
func BenchmarkPipeStream(b *testing.B) {
	b.Run("1MiB", func(b *testing.B) {
		p, _ := startBenchPeer(b, RingConfig{SlotSize: 64, Slots: 1})
		b.SetBytes(1 << 20)
		buf := make([]int64, 1<<17)
		bytes := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), 1<<20)
		b.ResetTimer()
		p.send("pipeframes", b.N)
		var total int64
		for range b.N {
			if _, err := io.ReadFull(p.out, bytes); err != nil {
				b.Fatal(err)
			}
			total += sum(buf)
		}
		b.StopTimer()
		p.expect(b, "pipeframes")
		require.NotZero(b, total)
	})
}
