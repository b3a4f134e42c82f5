package benchcompare

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mpgo/mp/internal/story"
)

// Figure is the median of one figure over the repetitions, or why there
// is none.
type Figure struct {
	Value float64 // the median; NaN when there is none
	Runs  int     // how many repetitions gave a value
	Err   string  // the first error, when no repetition gave a value
}

// OK reports whether the figure has a value.
func (f Figure) OK() bool { return f.Runs > 0 }

// Row is one line of the table: a Go figure, its floor where one exists,
// and Python's peer under each start method.
type Row struct {
	Label        string
	Unit         string
	N            int // the x of the scale curves, where the row has one
	Kind         string
	HigherBetter bool
	Go, Floor    Figure
	Py           map[string]Figure // by start method
	NoPeer       string            // why Python has no peer, if it has none
}

// Advantage is how many times better Go does than Python under method:
// Python ÷ Go for times and memory, Go ÷ Python for rates. NaN when a
// side is missing, or measured zero (a quick run's one repetition can
// round to nothing: no ratio, rather than an infinite one).
func (r Row) Advantage(method string) float64 {
	p := r.Py[method]
	if !r.Go.OK() || !p.OK() || !(r.Go.Value > 0) || !(p.Value > 0) {
		return math.NaN()
	}
	if r.HigherBetter {
		return r.Go.Value / p.Value
	}
	return p.Value / r.Go.Value
}

type rowSpec struct {
	label, unit    string
	kind           string // groups rows for the charts
	goOp, floorOp  string
	pyOp, pyErrOp  string // pyErrOp: where Python's error is, if not under pyOp
	n, pyN         int
	higher         bool
	noPeer         string
	pyMethodAgnost bool
}

func specs(cfg Results) []rowSpec {
	s := []rowSpec{
		{label: "message round trip (Go: Call; Python: Pipe send + recv)", unit: "µs", kind: "roundtrip", goOp: "roundtrip", floorOp: "roundtrip-floor", pyOp: "roundtrip"},
		{label: "event sync (Go: Sync, ping2's pattern; Python: Pipe + Event)", unit: "µs", kind: "sync", goOp: "sync", floorOp: "sync-floor", pyOp: "sync"},
	}
	for _, n := range cfg.Config.Ns {
		s = append(s,
			rowSpec{label: fmt.Sprintf("start %d, all ready (Go: main1 -scale)", n), unit: "s", kind: "spawn-ready", goOp: "spawn-ready", floorOp: "spawn-ready-floor", pyOp: "spawn-ready", n: n, pyN: n},
			rowSpec{label: fmt.Sprintf("stop %d", n), unit: "s", kind: "spawn-stop", goOp: "spawn-stop", floorOp: "spawn-stop-floor", pyOp: "spawn-stop", pyErrOp: "spawn-ready", n: n, pyN: n},
			rowSpec{label: fmt.Sprintf("PSS per idle process, %d of them", n), unit: "MiB", kind: "pss", goOp: "pss", pyOp: "pss", pyErrOp: "spawn-ready", n: n, pyN: n},
			rowSpec{label: fmt.Sprintf("fan-in, %s (Go: through the manager; Python: a Pipe each, connection.wait)", story.Count(n, "worker")), unit: "msgs/s", kind: "fanin",
				goOp: "fanin", pyOp: "fanin", pyErrOp: "spawn-ready", n: n, pyN: n, higher: true},
		)
	}
	for _, n := range cfg.Config.Ns {
		s = append(s,
			rowSpec{label: fmt.Sprintf("Call while %s, mean (a message each every 10 ms; Python: Pipe round trip)", busy(n)), unit: "µs", kind: "busy",
				goOp: "busy", floorOp: "busy-floor", pyOp: "busy", n: n, pyN: n},
			rowSpec{label: fmt.Sprintf("Call while %s, median", busy(n)), unit: "µs", kind: "busy-p50",
				goOp: "busy-p50", floorOp: "busy-floor-p50", pyOp: "busy-p50", pyErrOp: "busy", n: n, pyN: n},
		)
	}
	for _, rows := range []int{100, 4096} {
		for _, op := range []string{"fill", "sum"} {
			s = append(s, rowSpec{label: fmt.Sprintf("%s %dx%d float64, shared (Python: numpy)", op, rows, rows), unit: "GB/s", kind: op,
				goOp: op, floorOp: op + "-floor", pyOp: op, n: rows, pyN: rows, higher: true, pyMethodAgnost: true})
		}
	}
	s = append(s,
		rowSpec{label: "1 MiB frames (Go: shm.Ring; Python: Pipe)", unit: "GB/s", kind: "stream", goOp: "stream-ring", pyOp: "stream", higher: true},
		rowSpec{label: "1 MiB frames through a pipe (both)", unit: "GB/s", kind: "stream", goOp: "stream-pipe", pyOp: "stream", higher: true},
	)
	for _, w := range cfg.Config.Workers {
		s = append(s,
			rowSpec{label: fmt.Sprintf("tasks, %s (Python: ProcessPoolExecutor)", story.Count(w, "worker")), unit: "tasks/s", kind: "tasks-executor", goOp: "tasks", pyOp: "tasks-executor", n: w, pyN: w, higher: true},
			rowSpec{label: fmt.Sprintf("tasks, %s (Python: multiprocessing.Pool)", story.Count(w, "worker")), unit: "tasks/s", kind: "tasks-pool", goOp: "tasks", pyOp: "tasks-pool", n: w, pyN: w, higher: true},
		)
	}
	return s
}

// busy says that n workers are busy, in English: "1 worker is busy",
// "10 workers are busy".
func busy(n int) string {
	if n == 1 {
		return "1 worker is busy"
	}
	return story.Count(n, "worker") + " are busy"
}

// Rows computes the table from the samples.
func Rows(res *Results) []Row {
	var rows []Row
	for _, sp := range specs(*res) {
		r := Row{Label: sp.label, Unit: sp.unit, N: sp.n, Kind: sp.kind, HigherBetter: sp.higher, NoPeer: sp.noPeer, Py: map[string]Figure{}}
		r.Go = median(res.Samples, "go", sp.goOp, "", sp.n, "")
		r.Floor = median(res.Samples, "go", sp.floorOp, "", sp.n, "")
		for _, m := range res.Config.Methods {
			method := m
			if sp.pyMethodAgnost {
				method = ""
			}
			if sp.pyOp != "" {
				r.Py[m] = median(res.Samples, "python", sp.pyOp, method, sp.pyN, sp.pyErrOp)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func median(samples []Sample, side, op, method string, n int, errOp string) Figure {
	if op == "" {
		return Figure{Value: math.NaN()}
	}
	var v []float64
	f := Figure{Value: math.NaN()}
	for _, s := range samples {
		if s.Side != side || s.Method != method || s.N != n {
			continue
		}
		switch {
		case s.Op == op && s.Error == "":
			v = append(v, s.Value)
		case (s.Op == op || s.Op == errOp) && s.Error != "" && f.Err == "":
			f.Err = s.Error
		}
	}
	if len(v) == 0 {
		return f
	}
	slices.Sort(v)
	f.Runs = len(v)
	if len(v)%2 == 1 {
		f.Value = v[len(v)/2]
	} else {
		f.Value = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return f
}

// WriteTable prints the table in Markdown, with what was skipped.
func WriteTable(w io.Writer, res *Results, rows []Row) {
	fmt.Fprintf(w, "Machine: %s\nPython: %s\nMedians of %d repetitions, Go and Python alternating", res.Machine, res.Python, res.Config.Reps)
	if res.Config.Quick {
		fmt.Fprint(w, " (QUICK: one short run each, a smoke test, not figures)")
	}
	if res.Config.Load {
		fmt.Fprint(w, ", beside two CPU-bound competitors")
	}
	if n := res.Config.PyOnceFrom; n > 0 {
		fmt.Fprintf(w, "; Python's start + fan-in of %d processes or more: the first repetition only", n)
	}
	fmt.Fprint(w, ".\n")
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "Skipped: %s\n", s)
	}
	fmt.Fprintln(w)
	head := "| operation | unit | Go | Go's floor |"
	sep := "|---|---|---|---|"
	for _, m := range res.Config.Methods {
		head += " Python " + m + " |"
		sep += "---|"
	}
	for _, m := range res.Config.Methods {
		head += " Go ÷ " + m + " |"
		sep += "---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	for _, r := range rows {
		floor := cell(r.Floor)
		if r.Floor.Err != "" && r.Floor.Err == r.Go.Err {
			floor = "—" // skipped together: the reason once
		}
		line := fmt.Sprintf("| %s | %s | %s | %s |", r.Label, r.Unit, cell(r.Go), floor)
		for _, m := range res.Config.Methods {
			if r.NoPeer != "" {
				line += " " + r.NoPeer + " |"
				continue
			}
			line += " " + cell(r.Py[m]) + " |"
		}
		for _, m := range res.Config.Methods {
			a := r.Advantage(m)
			if math.IsNaN(a) {
				line += " — |"
			} else {
				line += fmt.Sprintf(" %s × |", num(a))
			}
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, "\nGo ÷ method: how many times better Go does (times and memory: Python's figure over Go's; rates: Go's over Python's).")
	if t := targets(rows); t != "" {
		fmt.Fprintf(w, "\n%s\n", t)
	}
}

// targets says how the curves fare against issue 22's targets: a Call
// while N workers are busy within 2 × its floor, and the fan-in at 1,000
// workers at least 0.8 × its figure at 100.
func targets(rows []Row) string {
	var busy []string
	fanin := map[int]Figure{}
	for _, r := range rows {
		switch {
		case r.Kind == "busy" && r.Go.OK() && r.Floor.OK():
			busy = append(busy, fmt.Sprintf("%d: %s ×", r.N, num(r.Go.Value/r.Floor.Value)))
		case r.Kind == "busy" && r.Go.Err != "":
			busy = append(busy, fmt.Sprintf("%d: %s", r.N, strings.SplitN(r.Go.Err, " (", 2)[0]))
		case r.Kind == "fanin":
			fanin[r.N] = r.Go
		}
	}
	var t []string
	if len(busy) > 0 {
		t = append(t, "a Call while N workers are busy, ÷ its floor (target ≤ 2): "+strings.Join(busy, ", "))
	}
	if a, b := fanin[1000], fanin[100]; a.OK() && b.OK() {
		t = append(t, fmt.Sprintf("fan-in at 1,000 workers ÷ at 100 (target ≥ 0.8): %s", num(a.Value/b.Value)))
	}
	if len(t) == 0 {
		return ""
	}
	return "Targets of issue 22: " + strings.Join(t, "; ") + "."
}

func cell(f Figure) string {
	switch {
	case f.OK():
		return num(f.Value)
	case f.Err != "":
		e := strings.ReplaceAll(f.Err, "|", "/")
		if strings.HasPrefix(e, "skipped") {
			e, _, _ = strings.Cut(e, ";") // the reason, not the remedy
			return e
		}
		if len(e) > 80 {
			e = e[:77] + "..."
		}
		return "failed: " + e
	}
	return "—"
}

// num prints three significant digits, without an exponent.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return commas(fmt.Sprintf("%.0f", v))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func commas(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Write writes results.json and table.md into dir and draws the charts.
func Write(dir string, res *Results) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	files := []string{filepath.Join(dir, "results.json"), filepath.Join(dir, "table.md")}
	if err := os.WriteFile(files[0], append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	var table strings.Builder
	rows := Rows(res)
	WriteTable(&table, res, rows)
	if err := os.WriteFile(files[1], []byte(table.String()), 0o644); err != nil {
		return nil, err
	}
	charts, err := DrawCharts(dir, res, rows)
	return append(files, charts...), err
}

// Load reads a results.json that Write wrote.
func Load(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &res, nil
}
