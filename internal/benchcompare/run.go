// Package benchcompare measures mp against Python's multiprocessing in one
// run: it runs the Go benchmarks (go test -bench, and main1 -scale for the
// curves over N workers) and aux/py_bench.py alternately, several
// repetitions, then prints one table of medians and ratios, writes every
// figure as JSON and draws the charts as PNG files. `make bench-compare`
// runs it through its command, internal/benchcompare/cmd/benchcompare.
//
// Only this package and its command import gonum.org/v1/plot; the library
// does not.
package benchcompare

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config says what a run measures. The zero value of each field means its
// default.
type Config struct {
	Root  string // the module's root (default: the current directory)
	Out   string // where results.json and the charts go (default "benchcompare-out")
	Reps  int    // repetitions of each side, alternating (default 3; Quick: 1)
	Quick bool   // each figure once, few iterations: a smoke test
	// Benchtime, if set, is every Go benchmark's -benchtime (the suite's
	// smoke test uses 1x).
	Benchtime string
	Ns        []int    // process counts for start+ready+stop, fan-in and busy workers (default 1, 10, 100, 1000; Quick: 1, 10, 100)
	Workers   []int    // worker counts for tasks/s (default 1, 10, 100; Quick: 1, 10)
	Methods   []string // Python start methods (default fork, forkserver)
	Python    string   // the interpreter (default: the first of /usr/bin/python3 and python3 that imports numpy, else python3)
	// PyOnceFrom: Python's start + fan-in of this many processes or more
	// runs in the first repetition only (default 1000; -1: in every one):
	// forkserver takes 20–70 s to start 1,000 here, a third of a run, and
	// one such figure is 10–20 × Go's.
	PyOnceFrom int
	NoGo       bool // skip the Go side (to check the Python side alone)
	Load       bool // run two CPU-bound competitors for the whole run
	Log        io.Writer
}

// Sample is one figure of one repetition, as results.json stores it.
type Sample struct {
	Side   string  `json:"side"`             // "go" or "python"
	Op     string  `json:"op"`               // what was measured (see rows in report.go)
	Method string  `json:"method,omitempty"` // Python's start method; "" for Go and in-process figures
	N      int     `json:"n,omitempty"`      // workers, processes or rows of the array, where it varies
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Rep    int     `json:"rep"`
	Error  string  `json:"error,omitempty"` // why there is no value
}

// Results is what results.json holds.
type Results struct {
	When    time.Time `json:"when"`
	Machine string    `json:"machine"`
	Python  string    `json:"python"`  // interpreter and version, or why none
	Skipped []string  `json:"skipped"` // what did not run, and why
	Config  struct {
		Reps    int      `json:"reps"`
		Quick   bool     `json:"quick"`
		Load    bool     `json:"load"`
		Ns      []int    `json:"ns"`
		Workers []int    `json:"workers"`
		Methods []string `json:"methods"`
		// Python's start + fan-in of this many processes or more ran in
		// the first repetition only (0: in every one).
		PyOnceFrom int `json:"py_once_from,omitempty"`
	} `json:"config"`
	Samples []Sample `json:"samples"`
}

func (c *Config) defaults() {
	if c.Root == "" {
		c.Root = "."
	}
	if c.Out == "" {
		c.Out = "benchcompare-out"
	}
	if c.Reps == 0 {
		c.Reps = 3
		if c.Quick {
			c.Reps = 1
		}
	}
	// A quick run starts no 1,000 processes, nor pools of 100: under
	// forkserver, on this busy 2-CPU machine, they took minutes.
	if c.Ns == nil {
		c.Ns = []int{1, 10, 100, 1000}
		if c.Quick {
			c.Ns = c.Ns[:3]
		}
	}
	if c.Workers == nil {
		c.Workers = []int{1, 10, 100}
		if c.Quick {
			c.Workers = c.Workers[:2]
		}
	}
	if c.PyOnceFrom == 0 {
		c.PyOnceFrom = 1000
	}
	if c.Methods == nil {
		c.Methods = []string{"fork", "forkserver"}
	}
	if c.Log == nil {
		c.Log = os.Stderr
	}
}

// Run measures both sides, alternating, and returns every figure. It
// fails only when the Go side cannot be built or ctx ends; a figure that
// fails is a sample with an Error.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	cfg.defaults()
	res := &Results{When: time.Now().UTC(), Machine: machine()}
	res.Config.Reps, res.Config.Quick, res.Config.Load = cfg.Reps, cfg.Quick, cfg.Load
	res.Config.Ns, res.Config.Workers, res.Config.Methods = cfg.Ns, cfg.Workers, cfg.Methods
	if cfg.Reps > 1 && cfg.PyOnceFrom > 0 && slices.ContainsFunc(cfg.Ns, func(n int) bool { return n >= cfg.PyOnceFrom }) {
		res.Config.PyOnceFrom = cfg.PyOnceFrom
	}
	logf := func(format string, args ...any) { fmt.Fprintf(cfg.Log, "benchcompare: "+format+"\n", args...) }

	py, pyDesc, skipped := findPython(ctx, cfg.Python)
	res.Python = pyDesc
	res.Skipped = append(res.Skipped, skipped...)
	for _, s := range skipped {
		logf("%s", s)
	}

	var goSide *goRunner
	if cfg.NoGo {
		res.Skipped = append(res.Skipped, "Go: skipped (-no-go)")
	} else {
		bin, err := os.MkdirTemp("", "benchcompare-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(bin)
		logf("building the Go benchmarks and main1 into %s", bin)
		goSide, err = buildGo(ctx, cfg, bin)
		if err != nil {
			return nil, err
		}
	}

	if cfg.Load {
		stop, err := startLoad()
		if err != nil {
			return nil, err
		}
		defer stop()
		logf("two CPU-bound competitors running (sh -c 'while :; do :; done')")
	}

	t0 := time.Now()
	defer func() { logf("the run took %.1f min", time.Since(t0).Minutes()) }()
	for rep := 1; rep <= cfg.Reps; rep++ {
		if goSide != nil {
			logf("repetition %d of %d: Go", rep, cfg.Reps)
			res.Samples = append(res.Samples, goSide.run(ctx, rep, logf)...)
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if py != "" {
			logf("repetition %d of %d: Python (%s)", rep, cfg.Reps, py)
			res.Samples = append(res.Samples, runPython(ctx, cfg, py, rep, logf)...)
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// command makes a process in its own process group, killed whole when
// ctx ends: Python's children, and the test binaries' backends, go with it.
func command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// output runs cmd and returns its stdout; the error carries the end of its
// stderr.
func output(cmd *exec.Cmd) (string, error) {
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return string(out), fmt.Errorf("%s: %w\n%s%s", strings.Join(cmd.Args, " "), err, out, tail)
	}
	return string(out), nil
}

// startLoad starts two CPU-bound competitors, each in its own process
// group, and returns what kills them.
func startLoad() (func(), error) {
	var cmds []*exec.Cmd
	stop := func() {
		for _, c := range cmds {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			c.Wait()
		}
	}
	for range 2 {
		c := exec.Command("sh", "-c", "while :; do :; done")
		// Killed by the kernel too if this process dies first: a busy
		// loop left behind would skew every later measurement.
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("load: %w", err)
		}
		cmds = append(cmds, c)
	}
	return stop, nil
}

// machine describes this machine in one line: CPUs, model, kernel, load.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimLeft(v, "\t :"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	load, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	if len(f) > 3 {
		f = f[:3]
	}
	return fmt.Sprintf("%d CPUs (%s), Linux %s, load average %s at the start", numCPU(), model,
		strings.TrimSpace(string(kernel)), strings.Join(f, " "))
}

func numCPU() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	n := 0
	for r := range strings.SplitSeq(strings.TrimSpace(string(b)), ",") {
		lo, hi, ok := strings.Cut(r, "-")
		a, _ := strconv.Atoi(lo)
		z := a
		if ok {
			z, _ = strconv.Atoi(hi)
		}
		n += z - a + 1
	}
	return n
}

func abs(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}
