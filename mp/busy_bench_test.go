package mp

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A Call while many backends are busy (issue 22's curve): n backends each
// send one small message every busyPeriod, which the frontend consumes,
// while one more backend answers Calls. The floor is measured in the same
// loop, under the same load: BenchmarkRawPipeRoundTrip's 8 bytes there and
// back through two raw pipes and an echo child.
//
// It lives here, in package mp, because it measures the message path
// (what a frontend pays for a Call when many pipes are busy) and because
// the raw floor's echo child (rawEcho, startRaw) is this test binary: no
// manager in between, nothing added to another package's TestMain.
//
// Each busy backend costs CPU (its runtime wakes, sends, sleeps): the
// benchmark measures the first 100 for half a second and skips a point
// whose projected cost exceeds three quarters of the machine's CPUs, which
// it could not carry (MP_BENCH_OVERLOAD=1 runs it anyway).
//
//	go test -run '^$' -bench CallWhileBusy -benchtime 2s -v ./mp
//	make bench-busy      # the same, COUNT times (-v shows why a point skipped)

// busyPeriod is how often each busy backend sends its message.
const busyPeriod = 10 * time.Millisecond

func init() {
	// tick starts a goroutine that sends a small message every "period_ms",
	// after "phase_us", until the process ends; the handler returns at once,
	// so the backend's loop goes on (and sees its stop).
	testKind.Handle("tick", func(b *testBackend, ctx context.Context, m Message) error {
		period, _ := m.Params.Int("period_ms")
		phase, _ := m.Params.Int("phase_us")
		go func() {
			ctx := b.Context()
			// The phase spreads the busy backends over the period: it
			// shapes the load, it synchronizes nothing.
			select {
			case <-time.After(time.Duration(phase) * time.Microsecond):
			case <-ctx.Done():
				return
			}
			t := time.NewTicker(time.Duration(period) * time.Millisecond)
			defer t.Stop()
			params := Params{"x": 1}
			for {
				if err := b.Send(ctx, "tick", params); err != nil {
					return
				}
				select {
				case <-t.C:
				case <-ctx.Done():
					return
				}
			}
		}()
		return nil
	})
}

// BenchmarkCallWhileBusy runs a Call and a raw pipe round trip in turn
// while n backends are busy (see above). ns/op is the Call alone (the
// mean), floor-ns/op the raw round trip's, x-floor the ratio of the two
// means; p50-ns and floor-p50-ns are the medians, x-floor-p50 their
// ratio. load-msgs/s is the rate the frontend consumed from the busy
// backends (n × 100 when it keeps up); busy-cpu-% and front-cpu-% the CPU
// the busy backends and this process used meanwhile, in percent of one CPU
// (when they leave no room on the machine, every process waits for a CPU,
// the floor's too); busy-µs/msg the busy backends' CPU per message.
func BenchmarkCallWhileBusy(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) { callWhileBusy(b, n) })
	}
}

func callWhileBusy(b *testing.B, n int) {
	busy := &busyFleet{procs: make([]*Process, n)}
	defer busy.stop()
	consumed := &busy.consumed
	// What the load costs, first: the first (up to) 100 busy backends
	// alone for a moment, to project the cost of n, before the rest
	// start. A load the machine cannot carry would measure its run queue,
	// not the message path, and stall everyone else on it for minutes.
	first := min(n, projectFrom)
	busy.start(b, 0, first)
	busy.tick(b, 0, first)
	sample, _ := busy.settle(500 * time.Millisecond)
	projected := sample * float64(n) / float64(first)
	b.Logf("%d busy backends used %.1f %% of a CPU", first, sample)
	if limit := 75 * float64(runtime.NumCPU()); projected > limit && os.Getenv("MP_BENCH_OVERLOAD") == "" {
		b.Skipf("skipped: %d busy backends would need %.0f %% of a CPU (%d used %.1f %%), more than 3/4 of this machine's %d CPUs; "+
			"MP_BENCH_OVERLOAD=1 runs it anyway", n, projected, first, sample, runtime.NumCPU())
	}
	busy.start(b, first, n)
	busy.tick(b, first, n)
	busy.settle(100 * time.Millisecond) // the rest's first ticks
	p := startBench(b, Options{Env: benchEnv()})
	roundTrip, stopRaw := rawPipePair(b)
	defer stopRaw()

	ctx := context.Background()
	params := Params{"x": 1}
	var calls, floors []time.Duration
	before, start, cpu0 := consumed.Load(), time.Now(), busy.cpu()
	i := 0
	for b.Loop() {
		// Alternate which goes first, so neither always follows the other.
		one, other := func() { calls = append(calls, timeCall(b, ctx, p, params)) },
			func() { floors = append(floors, timeIt(b, roundTrip)) }
		if i++; i%2 == 0 {
			one, other = other, one
		}
		one()
		other()
	}
	msgs, elapsed := consumed.Load()-before, time.Since(start)
	load := float64(msgs) / elapsed.Seconds()
	busyCPU, frontCPU := busy.cpu().since(cpu0, elapsed)
	call, floor := mean(calls), mean(floors)
	b.ReportMetric(call, "ns/op") // the Call alone, not the pair
	b.ReportMetric(floor, "floor-ns/op")
	b.ReportMetric(call/floor, "x-floor")
	b.ReportMetric(median(calls), "p50-ns")
	b.ReportMetric(median(floors), "floor-p50-ns")
	b.ReportMetric(median(calls)/median(floors), "x-floor-p50")
	b.ReportMetric(load, "load-msgs/s")
	b.ReportMetric(busyCPU, "busy-cpu-%")
	b.ReportMetric(frontCPU, "front-cpu-%")
	if msgs > 0 {
		b.ReportMetric(busyCPU/100*elapsed.Seconds()*1e6/float64(msgs), "busy-µs/msg")
	}
}

// settle lets the busy backends run for d and returns the CPU they and
// this process used meanwhile, in percent of one CPU.
func (f *busyFleet) settle(d time.Duration) (busy, front float64) {
	t0, start := f.cpu(), time.Now()
	time.Sleep(d) // a measurement's length, not a synchronization
	return f.cpu().since(t0, time.Since(start))
}

// cpuTimes is the CPU time (user + system) the busy backends and this
// process have used.
type cpuTimes struct{ busy, front time.Duration }

func (f *busyFleet) cpu() cpuTimes {
	t := cpuTimes{front: selfCPU()}
	for _, p := range f.procs {
		if p != nil {
			t.busy += schedCPU(p.Pid())
		}
	}
	return t
}

// schedCPU is the time pid's threads have run, from their schedstat (in
// nanoseconds: /proc/<pid>/stat counts 10 ms ticks, too coarse for a
// process that runs a few µs at a time).
func schedCPU(pid int) time.Duration {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		ns, _, _ := strings.Cut(string(b), " ")
		v, _ := strconv.ParseInt(ns, 10, 64)
		sum += time.Duration(v)
	}
	return sum
}

// since is the CPU the busy backends and this process used since t0, each
// in percent of one CPU over elapsed: what the load costs, and whether
// the machine (2 CPUs: 200 %) has room left for the Call and its floor.
func (t cpuTimes) since(t0 cpuTimes, elapsed time.Duration) (busy, front float64) {
	pc := func(d time.Duration) float64 { return 100 * d.Seconds() / elapsed.Seconds() }
	return pc(t.busy - t0.busy), pc(t.front - t0.front)
}

func timeCall(b *testing.B, ctx context.Context, p *Process, params Params) time.Duration {
	t := time.Now()
	if _, err := p.Call(ctx, "echo", params); err != nil {
		b.Fatal(err)
	}
	return time.Since(t)
}

func timeIt(b *testing.B, f func() error) time.Duration {
	t := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	return time.Since(t)
}

func mean(d []time.Duration) float64 {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return float64(sum) / float64(max(len(d), 1))
}

func median(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[len(s)/2])
}

// rawPipePair starts BenchmarkRawPipeRoundTrip's echo child and returns one
// round trip through it, and what stops it.
func rawPipePair(b *testing.B) (roundTrip func() error, stop func()) {
	w, r, _, stop := rawEchoPipes(b, "pipe", 0)
	buf := []byte("12345678")
	return func() error {
		if _, err := unix.Write(w, buf); err != nil {
			return err
		}
		return readFull(r, buf)
	}, stop
}

// busyFleet is the n busy backends and the goroutines that consume their
// messages.
type busyFleet struct {
	procs     []*Process
	consumed  atomic.Int64 // messages consumed
	env       []string     // the backends' environment, besides GOMAXPROCS=1
	consumers sync.WaitGroup
}

// projectFrom is how many busy backends callWhileBusy measures before it
// starts the rest.
const projectFrom = 100

// stop stops the busy backends, all at once (killing what has not stopped
// within 10 s, as a loaded machine may take that long), and waits for the
// consumers.
func (f *busyFleet) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range f.procs {
		if p != nil {
			wg.Go(func() { p.Shutdown(ctx) })
		}
	}
	wg.Wait()
	f.consumers.Wait()
}

// start starts backends from to to-1, 8 starts at a time, each consuming
// its messages and counting them; tick sets them to work.
func (f *busyFleet) start(b testing.TB, from, to int) {
	t0 := time.Now()
	ctx := context.Background()
	slots := make(chan struct{}, 8)
	errs := make(chan error, to-from)
	var starts sync.WaitGroup
	for i := from; i < to; i++ {
		slots <- struct{}{}
		starts.Go(func() {
			defer func() { <-slots }()
			p, err := testKind.Start(ctx, Options{Name: fmt.Sprintf("busy-%d", i+1), Env: append([]string{"GOMAXPROCS=1"}, f.env...)})
			if err != nil {
				errs <- err
				return
			}
			f.procs[i] = p
			f.consumers.Go(func() {
				for range p.Messages() {
					f.consumed.Add(1)
				}
			})
		})
	}
	starts.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err) // the deferred stop stops what started
	}
	b.Logf("%d busy backends started in %v", to-from, time.Since(t0).Round(time.Millisecond))
}

// tick has backends from to to-1 send a small message every busyPeriod,
// their phases spread evenly over the period.
func (f *busyFleet) tick(b testing.TB, from, to int) {
	n := int64(len(f.procs))
	for i := from; i < to; i++ {
		phase := int64(i) * busyPeriod.Microseconds() / n
		if err := f.procs[i].Send(context.Background(), "tick", Params{"period_ms": busyPeriod.Milliseconds(), "phase_us": phase}); err != nil {
			b.Fatal(err)
		}
	}
}
