package benchcompare

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// goBench is one package's benchmarks as the Go side runs them: the test
// binary is built once, then run as `go test -run '^$' -bench Pattern
// -benchtime Benchtime` would run it, in the package's directory.
type goBench struct {
	pkg       string // relative to the module's root
	pattern   string
	skip      string // -test.skip: what the pattern takes in but no row reads
	benchtime string // full run
	quick     string // Quick
	verbose   bool   // -test.v, to read why a sub-benchmark skipped
}

// goBenches are the Go peers of the Python figures, and their floors.
func goBenches(workers, ns []int) []goBench {
	return []goBench{
		{pkg: "mp", pattern: `^Benchmark(RawPipeRoundTrip|Call|Sync|RawEventfdRoundTrip)$`, benchtime: "1s", quick: "2000x"},
		// A Call while N backends are busy, beside its floor: one test
		// binary run per repetition, N as for the starts.
		{pkg: "mp", pattern: `^BenchmarkCallWhileBusy$/^workers=(` + alternatives(ns) + `)$`, benchtime: "1s", quick: "200x", verbose: true},
		{pkg: "mp/shm", pattern: `^Benchmark(Fill|Sum|Ring|PipeStream)$/^(100x100|4096x4096|frame=1MiB|1MiB)$`,
			skip: `^Benchmark(Fill|Sum)$/^(100x100|4096x4096)$/^(heap-zero|heap-clear|heap-scan)$`, benchtime: "0.5s", quick: "20x"},
		{pkg: "mp/manager", pattern: `^BenchmarkTasks$/^workers=(` + alternatives(workers) + `)$`, benchtime: "3x", quick: "1x"},
	}
}

// The fan-in's messages in all, spread over the workers of each main1
// -scale N: about a second of messages for every N, long enough to be
// stable on a shared machine (1,000 per worker would be a tenth of a
// second at 100 workers).
const (
	goFanIn    = 2_000_000
	quickFanIn = 3000
)

// alternatives is "1|10|100": a regexp's alternatives of the numbers.
func alternatives(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, "|")
}

type goRunner struct {
	cfg     Config
	benches []goBench
	bin     string // where the test binaries and main1 are
}

// buildGo builds the test binaries (one go test -c, which links them in
// parallel) and main1 into bin.
func buildGo(ctx context.Context, cfg Config, bin string) (*goRunner, error) {
	g := &goRunner{cfg: cfg, benches: goBenches(cfg.Workers, cfg.Ns), bin: bin}
	args := []string{"test", "-c", "-o", bin + "/"}
	for _, b := range g.benches {
		if !slices.Contains(args, "./"+b.pkg) {
			args = append(args, "./"+b.pkg)
		}
	}
	main1 := make(chan error, 1)
	go func() {
		_, err := output(command(ctx, cfg.Root, "go", "build", "-o", filepath.Join(bin, "main1"), "./part2/main1"))
		main1 <- err
	}()
	_, err := output(command(ctx, cfg.Root, "go", args...))
	if err != nil {
		err = fmt.Errorf("building the benchmarks: %w", err)
	}
	if err2 := <-main1; err == nil && err2 != nil {
		err = fmt.Errorf("building main1: %w", err2)
	}
	return g, err
}

// testBin is where go test -c put b's binary: the package's name.
func (g *goRunner) testBin(b goBench) string {
	return filepath.Join(g.bin, filepath.Base(b.pkg)+".test")
}

// run runs every Go figure once; what fails is a sample with an error.
func (g *goRunner) run(ctx context.Context, rep int, logf func(string, ...any)) []Sample {
	var out []Sample
	for _, b := range g.benches {
		bt := b.benchtime
		if g.cfg.Quick {
			bt = b.quick
		}
		if g.cfg.Benchtime != "" {
			bt = g.cfg.Benchtime
		}
		args := []string{"-test.run", "^$", "-test.bench", b.pattern, "-test.benchtime", bt}
		if b.skip != "" {
			args = append(args, "-test.skip", b.skip)
		}
		if b.verbose {
			args = append(args, "-test.v")
		}
		cmd := command(ctx, abs(g.cfg.Root, b.pkg), g.testBin(b), args...)
		t0 := time.Now()
		stdout, err := output(cmd)
		logf("Go: %5.1f s  %s -test.bench %s -test.benchtime %s", time.Since(t0).Seconds(), b.pkg, b.pattern, bt)
		got := parseBench(stdout)
		if err != nil {
			logf("Go %s: %v", b.pkg, err)
			got = append(got, Sample{Side: "go", Op: "bench " + b.pkg, Error: firstLine(err.Error())})
		}
		out = append(out, got...)
	}
	fanIn := goFanIn
	if g.cfg.Quick {
		fanIn = quickFanIn
	}
	for _, n := range g.cfg.Ns {
		t0 := time.Now()
		stdout, err := output(command(ctx, g.cfg.Root, filepath.Join(g.bin, "main1"), "-scale", strconv.Itoa(n), "-scale-messages", strconv.Itoa(fanIn)))
		logf("Go: %5.1f s  main1 -scale %d -scale-messages %d", time.Since(t0).Seconds(), n, fanIn)
		got := parseScale(stdout, n)
		if err != nil || len(got) == 0 {
			msg := "no figures in its output"
			if err != nil {
				msg = firstLine(err.Error())
			}
			logf("Go main1 -scale %d: %s", n, msg)
			got = append(got, Sample{Side: "go", Op: "spawn-ready", N: n, Unit: "s", Error: msg})
		}
		out = append(out, got...)
	}
	for i := range out {
		out[i].Rep = rep
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

var (
	benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)
	skipLine  = regexp.MustCompile(`^--- SKIP: (Benchmark\S+?)(?:-\d+)?(?: \(|$)`)
	logLine   = regexp.MustCompile(`^\S+\.go:\d+: (skipped: .*)$`)
)

// parseBench turns the lines of go test -bench output into samples, for
// the benchmarks this tool knows (see goOp); it ignores the rest. A
// sub-benchmark that skipped (-test.v shows why, in the line before) is a
// sample whose Error is its reason.
func parseBench(out string) []Sample {
	var samples []Sample
	why := ""
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if m := logLine.FindStringSubmatch(line); m != nil {
			why = m[1]
			continue
		}
		if m := skipLine.FindStringSubmatch(line); m != nil && why != "" {
			if s, ok := goOp(m[1], map[string]float64{"ns/op": 1, "floor-ns/op": 1}); ok {
				for _, s := range withFloor(s, nil) {
					s.Value, s.Error = 0, why
					samples = append(samples, s)
				}
			}
			why = ""
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		metrics := map[string]float64{}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				metrics[f[i+1]] = v
			}
		}
		if s, ok := goOp(m[1], metrics); ok {
			samples = append(samples, withFloor(s, metrics)...)
		}
	}
	return samples
}

// withFloor is s, and for a figure whose floor is a metric of the same
// benchmark (a Call while workers are busy: its mean, ns/op), that floor
// and both medians as samples of their own.
func withFloor(s Sample, m map[string]float64) []Sample {
	if s.Op != "busy" {
		return []Sample{s}
	}
	out := []Sample{s}
	for _, o := range []struct{ op, metric string }{
		{"busy-floor", "floor-ns/op"}, {"busy-p50", "p50-ns"}, {"busy-floor-p50", "floor-p50-ns"},
	} {
		f := s
		f.Op, f.Value = o.op, m[o.metric]/1e3
		out = append(out, f)
	}
	return out
}

// goOp names a Go benchmark's figure as the Python side names its peer.
func goOp(name string, m map[string]float64) (Sample, bool) {
	us := func(op string) (Sample, bool) {
		return Sample{Side: "go", Op: op, Value: m["ns/op"] / 1e3, Unit: "us"}, m["ns/op"] > 0
	}
	gbs := func(op string, n int) (Sample, bool) {
		return Sample{Side: "go", Op: op, N: n, Value: m["MB/s"] / 1e3, Unit: "GB/s"}, m["MB/s"] > 0
	}
	switch name {
	case "BenchmarkCall":
		return us("roundtrip")
	case "BenchmarkRawPipeRoundTrip":
		return us("roundtrip-floor")
	case "BenchmarkSync":
		return us("sync")
	case "BenchmarkRawEventfdRoundTrip":
		return us("sync-floor")
	case "BenchmarkRing/frame=1MiB":
		return gbs("stream-ring", 0)
	case "BenchmarkPipeStream/1MiB":
		return gbs("stream-pipe", 0)
	}
	parts := strings.Split(name, "/")
	switch {
	case len(parts) >= 2 && (parts[0] == "BenchmarkFill" || parts[0] == "BenchmarkSum"):
		rows, _, _ := strings.Cut(parts[1], "x")
		n, err := strconv.Atoi(rows)
		if err != nil {
			return Sample{}, false
		}
		op := strings.ToLower(strings.TrimPrefix(parts[0], "Benchmark"))
		if len(parts) == 3 && parts[2] == "heap" {
			op += "-floor"
		} else if len(parts) != 2 {
			return Sample{}, false
		}
		return gbs(op, n)
	case len(parts) == 2 && parts[0] == "BenchmarkCallWhileBusy":
		n, err := strconv.Atoi(strings.TrimPrefix(parts[1], "workers="))
		if err != nil {
			return Sample{}, false
		}
		// The floor is a metric of the same line (see withFloor).
		return Sample{Side: "go", Op: "busy", N: n, Value: m["ns/op"] / 1e3, Unit: "us"}, m["ns/op"] > 0 && m["floor-ns/op"] > 0
	case len(parts) == 2 && parts[0] == "BenchmarkTasks":
		n, err := strconv.Atoi(strings.TrimPrefix(parts[1], "workers="))
		if err != nil {
			return Sample{}, false
		}
		return Sample{Side: "go", Op: "tasks", N: n, Value: m["tasks/s"], Unit: "tasks/s"}, m["tasks/s"] > 0
	}
	return Sample{}, false
}

var (
	scaleReady   = regexp.MustCompile(`(?m)^all ready:\s+([\d.]+) s`)
	scaleStopped = regexp.MustCompile(`(?m)^all stopped:\s+([\d.]+) s`)
	scalePSS     = regexp.MustCompile(`(?m)^PSS:.*, ([\d.]+) MiB per idle worker`)
	scaleFanIn   = regexp.MustCompile(`(?m)^fan-in:.*: ([\d.]+) messages/s`)
	scaleFloor   = regexp.MustCompile(`(?m)^floor:\s+all ready ([\d.]+) s, all stopped ([\d.]+) s`)
)

// parseScale reads main1 -scale n's figures.
func parseScale(out string, n int) []Sample {
	var samples []Sample
	add := func(re *regexp.Regexp, group int, op, unit string) {
		if m := re.FindStringSubmatch(out); m != nil {
			if v, err := strconv.ParseFloat(m[group], 64); err == nil {
				samples = append(samples, Sample{Side: "go", Op: op, N: n, Value: v, Unit: unit})
			}
		}
	}
	add(scaleReady, 1, "spawn-ready", "s")
	add(scaleStopped, 1, "spawn-stop", "s")
	add(scalePSS, 1, "pss", "MiB")
	add(scaleFanIn, 1, "fanin", "msgs/s")
	add(scaleFloor, 1, "spawn-ready-floor", "s")
	add(scaleFloor, 2, "spawn-stop-floor", "s")
	return samples
}
