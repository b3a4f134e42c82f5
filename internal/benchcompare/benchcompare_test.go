package benchcompare

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBench(t *testing.T) {
	const skipped = "skipped: 1000 busy backends would need 702 % of a CPU (100 used 70.2 %), more than 3/4 of this machine's 2 CPUs; MP_BENCH_OVERLOAD=1 runs it anyway"
	out := `goos: linux
BenchmarkRawPipeRoundTrip-2   	  200000	      6900 ns/op
BenchmarkCall-2               	  200000	      5100 ns/op	         9.300 cpu-µs/op
BenchmarkFill/4096x4096-2     	      20	  36322063 ns/op	3695.21 MB/s
BenchmarkFill/4096x4096/heap-2	      20	  21817392 ns/op	6151.87 MB/s
BenchmarkFill/4096x4096/heap-zero-2 	      20	  23892044 ns/op	5617.67 MB/s
BenchmarkRing/frame=1MiB-2    	      20	    143944 ns/op	7284.61 MB/s
BenchmarkTasks/workers=10-2   	       3	  70000000 ns/op	     28400 tasks/s
BenchmarkSomethingElse-2      	       3	  70000000 ns/op
BenchmarkCallWhileBusy/workers=10
    busy_bench_test.go:309: 10 busy backends started in 128ms
BenchmarkCallWhileBusy/workers=10-2        	   12123	     79889 ns/op	         5.670 busy-cpu-%	        57.82 busy-µs/msg	     15901 floor-ns/op	      9033 floor-p50-ns	        52.02 front-cpu-%	       980.7 load-msgs/s	     67250 p50-ns	         5.024 x-floor	         7.445 x-floor-p50
--- BENCH: BenchmarkCallWhileBusy/workers=10-2
BenchmarkCallWhileBusy/workers=1000
    busy_bench_test.go:105: skipped: 1000 busy backends would need 702 % of a CPU (100 used 70.2 %), more than 3/4 of this machine's 2 CPUs; MP_BENCH_OVERLOAD=1 runs it anyway
--- SKIP: BenchmarkCallWhileBusy/workers=1000
PASS
`
	assert.Equal(t, []Sample{
		{Side: "go", Op: "roundtrip-floor", Value: 6.9, Unit: "us"},
		{Side: "go", Op: "roundtrip", Value: 5.1, Unit: "us"},
		{Side: "go", Op: "fill", N: 4096, Value: 3.69521, Unit: "GB/s"},
		{Side: "go", Op: "fill-floor", N: 4096, Value: 6.15187, Unit: "GB/s"},
		{Side: "go", Op: "stream-ring", Value: 7.28461, Unit: "GB/s"},
		{Side: "go", Op: "tasks", N: 10, Value: 28400, Unit: "tasks/s"},
		{Side: "go", Op: "busy", N: 10, Value: 79.889, Unit: "us"},
		{Side: "go", Op: "busy-floor", N: 10, Value: 15.901, Unit: "us"},
		{Side: "go", Op: "busy-p50", N: 10, Value: 67.25, Unit: "us"},
		{Side: "go", Op: "busy-floor-p50", N: 10, Value: 9.033, Unit: "us"},
		{Side: "go", Op: "busy", N: 1000, Unit: "us", Error: skipped},
		{Side: "go", Op: "busy-floor", N: 1000, Unit: "us", Error: skipped},
		{Side: "go", Op: "busy-p50", N: 1000, Unit: "us", Error: skipped},
		{Side: "go", Op: "busy-floor-p50", N: 1000, Unit: "us", Error: skipped},
	}, parseBench(out))
}

func TestParseScale(t *testing.T) {
	out := `workers:       3 (started 8 at a time)
all ready:     0.005 s
fan-in:        3000 messages in 0.00 s: 1147759 messages/s
PSS:           4.6 MiB in all, 1.53 MiB per idle worker
all stopped:   0.002 s
floor:         all ready 0.004 s, all stopped 0.001 s (3 plain processes, 8 at a time)
`
	assert.Equal(t, []Sample{
		{Side: "go", Op: "spawn-ready", N: 3, Value: 0.005, Unit: "s"},
		{Side: "go", Op: "spawn-stop", N: 3, Value: 0.002, Unit: "s"},
		{Side: "go", Op: "pss", N: 3, Value: 1.53, Unit: "MiB"},
		{Side: "go", Op: "fanin", N: 3, Value: 1147759, Unit: "msgs/s"},
		{Side: "go", Op: "spawn-ready-floor", N: 3, Value: 0.004, Unit: "s"},
		{Side: "go", Op: "spawn-stop-floor", N: 3, Value: 0.001, Unit: "s"},
	}, parseScale(out, 3))
}

func TestMedianAndAdvantage(t *testing.T) {
	res := &Results{Samples: []Sample{
		{Side: "go", Op: "roundtrip", Value: 5, Unit: "us"},
		{Side: "go", Op: "roundtrip", Value: 7, Unit: "us"},
		{Side: "go", Op: "roundtrip", Value: 100, Unit: "us"},
		{Side: "python", Op: "roundtrip", Method: "fork", Value: 42, Unit: "us"},
		{Side: "python", Op: "spawn-ready", Method: "fork", N: 1000, Unit: "s", Error: "TimeoutError: 900 of 1000 ready"},
		{Side: "go", Op: "tasks", N: 10, Value: 20000},
		{Side: "python", Op: "tasks-pool", Method: "fork", N: 10, Value: 10000},
		{Side: "go", Op: "busy", N: 100, Value: 30, Unit: "us"},
		{Side: "go", Op: "busy-floor", N: 100, Value: 10, Unit: "us"},
		{Side: "go", Op: "busy", N: 1000, Unit: "us", Error: "skipped: 1000 busy backends would need 702 % of a CPU (100 used 70.2 %), more; remedy"},
		{Side: "go", Op: "fanin", N: 100, Value: 2e6},
		{Side: "go", Op: "fanin", N: 1000, Value: 1.5e6},
		{Side: "python", Op: "fanin", Method: "fork", N: 1000, Value: 3e5},
		{Side: "go", Op: "busy-p50", N: 100, Value: 20, Unit: "us"},
		{Side: "go", Op: "busy-floor-p50", N: 100, Value: 8, Unit: "us"},
		{Side: "python", Op: "busy", Method: "fork", N: 100, Unit: "us", Error: "skipped: 100 busy processes would need 300 % of a CPU (100 used 200 %); remedy"},
	}}
	res.Config.Ns, res.Config.Workers, res.Config.Methods = []int{100, 1000}, []int{10}, []string{"fork"}
	rows := map[string]Row{}
	for _, r := range Rows(res) {
		rows[r.Label] = r
	}
	rt := rows["message round trip (Go: Call; Python: Pipe send + recv)"]
	assert.Equal(t, 7.0, rt.Go.Value, "the median of three")
	assert.Equal(t, 6.0, rt.Advantage("fork"), "times: Python ÷ Go")
	assert.Equal(t, 2.0, rows["tasks, 10 workers (Python: multiprocessing.Pool)"].Advantage("fork"), "rates: Go ÷ Python")
	stop := rows["stop 1000"].Py["fork"]
	assert.False(t, stop.OK())
	assert.Equal(t, "TimeoutError: 900 of 1000 ready", stop.Err, "a failed start shows on the rows it took down")
	var table bytes.Buffer
	WriteTable(&table, res, Rows(res))
	assert.Contains(t, table.String(), "failed: TimeoutError: 900 of 1000 ready")
	assert.Contains(t, table.String(), "| Call while 1000 workers are busy, mean (a message each every 10 ms; Python: Pipe round trip) | µs | skipped: 1000 busy backends would need 702 % of a CPU (100 used 70.2 %), more | — |",
		"a skipped point says why, without the remedy")
	assert.Contains(t, table.String(), "| fan-in, 1000 workers (Go: through the manager; Python: a Pipe each, connection.wait) | msgs/s | 1,500,000 | — | 300,000 | 5.00 × |")
	assert.Contains(t, table.String(), "| Call while 100 workers are busy, median | µs | 20.0 | 8.00 | skipped: 100 busy processes would need 300 % of a CPU (100 used 200 %) | — |",
		"Python's skipped point says why on both rows")
	assert.Contains(t, table.String(), "Targets of issue 22: a Call while N workers are busy, ÷ its floor (target ≤ 2): 100: 3.00 ×, "+
		"1000: skipped: 1000 busy backends would need 702 % of a CPU; fan-in at 1,000 workers ÷ at 100 (target ≥ 0.8): 0.750.")
}

// TestRowsCountInEnglish: a row of one worker says "1 worker", and "is".
func TestRowsCountInEnglish(t *testing.T) {
	res := &Results{}
	res.Config.Ns, res.Config.Workers, res.Config.Methods = []int{1, 10}, []int{1}, []string{"fork"}
	var labels []string
	for _, r := range Rows(res) {
		labels = append(labels, r.Label)
		assert.NotContains(t, r.Label, "1 workers")
	}
	for _, want := range []string{
		"fan-in, 1 worker (Go: through the manager; Python: a Pipe each, connection.wait)",
		"fan-in, 10 workers (Go: through the manager; Python: a Pipe each, connection.wait)",
		"Call while 1 worker is busy, median",
		"Call while 10 workers are busy, median",
		"tasks, 1 worker (Python: ProcessPoolExecutor)",
	} {
		assert.Contains(t, labels, want)
	}
}

// TestQuickRun is the tool's smoke test: the whole run, both sides, on
// tiny sizes (QUICK, benchmarks once, 1 and 2 processes, fork only), then
// the table, the JSON and the charts. It checks that the tool works, not
// the figures; and that it leaves no process or /dev/shm file behind.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds the benchmarks and starts Python")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("skipped: no python3 on the PATH (apt-get install python3); make bench-compare runs the Go side alone")
	}
	var tag [6]byte
	rand.Read(tag[:])
	mark := hex.EncodeToString(tag[:])
	t.Setenv("MP_BENCHCOMPARE_TEST", mark)
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{Root: root, Out: t.TempDir(), Quick: true, Benchtime: "1x", Ns: []int{1, 2}, Workers: []int{1},
		Methods: []string{"fork"}, Log: &log}
	res, err := Run(ctx, cfg)
	require.NoError(t, err, log.String())

	has := func(side, op string) bool {
		for _, s := range res.Samples {
			if s.Side == side && s.Op == op && s.Error == "" {
				return true
			}
		}
		return false
	}
	for _, op := range []string{"roundtrip", "sync", "spawn-ready", "pss", "fanin", "tasks", "busy", "busy-floor", "busy-p50", "busy-floor-p50"} {
		assert.True(t, has("go", op), "Go's %s", op)
	}
	for _, op := range []string{"roundtrip", "sync", "spawn-ready", "pss", "fanin", "busy", "busy-p50", "stream", "tasks-executor", "tasks-pool"} {
		assert.True(t, has("python", op), "Python's %s", op)
	}
	files, err := Write(cfg.Out, res)
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		if strings.HasSuffix(f, ".png") {
			assert.True(t, bytes.HasPrefix(b, []byte("\x89PNG")), "%s is a PNG", f)
		}
	}
	back, err := Load(filepath.Join(cfg.Out, "results.json"))
	require.NoError(t, err)
	assert.Equal(t, len(res.Samples), len(back.Samples), "results.json holds every figure")

	assert.Empty(t, leftovers(t, mark), "processes left behind")
	assert.Empty(t, pybenchLeftovers(), "py_bench.py's segments left behind")
}

// pybenchLeftovers lists py_bench.py's segments (mp-pybench-<pid>-…) whose
// process is gone. A segment whose process lives is in use, by another run
// beside this one (make stress runs the suite twice at once): counting
// those failed this test under load.
func pybenchLeftovers() []string {
	var left []string
	all, _ := filepath.Glob("/dev/shm/mp-pybench-*")
	for _, f := range all {
		pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(f), "mp-pybench-"), "-")
		if n, err := strconv.Atoi(pid); err == nil && proctest.Alive(n) {
			continue
		}
		left = append(left, f)
	}
	return left
}

// leftovers lists the live processes other than this one whose
// environment carries the test's mark, after giving them a second to go
// (waiting on their pidfds: proctest.AwaitNone).
func leftovers(t *testing.T, mark string) []string {
	want := []byte("MP_BENCHCOMPARE_TEST=" + mark + "\x00")
	self := os.Getpid()
	marked := func() []int {
		var pids []int
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			pid, err := strconv.Atoi(filepath.Base(d))
			if err != nil || pid == self {
				continue
			}
			env, err := os.ReadFile(filepath.Join(d, "environ"))
			if err == nil && bytes.Contains(env, want) && proctest.Alive(pid) {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	pids, err := proctest.AwaitNone(marked, time.Second)
	require.NoError(t, err)
	var left []string
	for _, pid := range pids {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		left = append(left, fmt.Sprintf("/proc/%d: %s", pid, strings.ReplaceAll(string(cmd), "\x00", " ")))
	}
	if len(left) > 0 {
		t.Logf("left: %v", left)
	}
	return left
}

// Fault: a quick run's figure can come out as zero; its ratio was +Inf,
// and the ratios chart failed ("plotter: infinite data point").
func TestAdvantageOfAZeroFigureIsNoRatio(t *testing.T) {
	zero := Figure{Value: 0, Runs: 1}
	some := Figure{Value: 2, Runs: 1}
	for _, r := range []Row{
		{Go: zero, Py: map[string]Figure{"fork": some}},
		{Go: some, Py: map[string]Figure{"fork": zero}, HigherBetter: true},
	} {
		assert.True(t, math.IsNaN(r.Advantage("fork")), "advantage %v", r.Advantage("fork"))
	}
	res := &Results{Config: Results{}.Config}
	res.Config.Methods = []string{"fork"}
	rows := []Row{{Label: "zero", Go: zero, Py: map[string]Figure{"fork": some}}, {Label: "ok", Go: some, Py: map[string]Figure{"fork": some}}}
	require.NoError(t, drawRatios(filepath.Join(t.TempDir(), "ratios.png"), res, rows))
}

// TestStepLog: py_bench.py's timing lines reach the log as they come, in
// pieces or not; the rest of its stderr is kept for an error's message.
func TestStepLog(t *testing.T) {
	var logged []string
	var rest strings.Builder
	w := &stepLog{logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }, rest: &rest}
	for _, p := range []string{"py_bench:    1.5 s  shared", " arrays\nTraceback (most recent call last):\n", "py_bench:   21.0 s  forkserver: start + fan-in + stop of 1000\n"} {
		n, err := w.Write([]byte(p))
		require.NoError(t, err)
		assert.Equal(t, len(p), n)
	}
	assert.Equal(t, []string{"Python:    1.5 s  shared arrays", "Python:   21.0 s  forkserver: start + fan-in + stop of 1000"}, logged)
	assert.Equal(t, "Traceback (most recent call last):\n", rest.String())
}

// TestPyArgs: Python's starts of 1,000 processes run in the first
// repetition only, its busy round trips in every one.
func TestPyArgs(t *testing.T) {
	cfg := Config{Reps: 3, Ns: []int{1, 10, 100, 1000}, Workers: []int{1, 10}, Methods: []string{"fork"}, PyOnceFrom: 1000}
	assert.Equal(t, []string{"aux/py_bench.py", "--methods", "fork", "--ns", "1,10,100,1000", "--busy-ns", "1,10,100,1000", "--workers", "1,10"}, pyArgs(cfg, 1))
	assert.Equal(t, []string{"aux/py_bench.py", "--methods", "fork", "--ns", "1,10,100", "--busy-ns", "1,10,100,1000", "--workers", "1,10"}, pyArgs(cfg, 2))
	cfg.PyOnceFrom = -1
	assert.Equal(t, "1,10,100,1000", pyArgs(cfg, 3)[4], "-1: every repetition")
}
