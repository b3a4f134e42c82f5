package benchcompare

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// findPython picks the interpreter: the one asked for, else the first of
// /usr/bin/python3 (where Debian's python3-numpy goes) and python3 on the
// PATH that imports numpy, else python3 without numpy. It returns the
// interpreter ("" for none), a description for the results, and what is
// skipped, said plainly.
func findPython(ctx context.Context, asked string) (py, desc string, skipped []string) {
	candidates := []string{"/usr/bin/python3", "python3"}
	if asked != "" {
		candidates = []string{asked}
	}
	var withoutNumpy string
	for _, c := range candidates {
		path, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if exec.CommandContext(ctx, path, "-c", "import numpy").Run() == nil {
			return path, describe(ctx, path) + ", with numpy", nil
		}
		if withoutNumpy == "" && exec.CommandContext(ctx, path, "-c", "import multiprocessing").Run() == nil {
			withoutNumpy = path
		}
	}
	if withoutNumpy != "" {
		return withoutNumpy, describe(ctx, withoutNumpy) + ", without numpy",
			[]string{"numpy: skipped, " + withoutNumpy + " has no numpy (apt-get install python3-numpy, for /usr/bin/python3): the shared-array rows have no Python side"}
	}
	return "", "none", []string{"Python: skipped, no python3 found (tried " + strings.Join(candidates, ", ") + "; apt-get install python3): every row has only the Go side"}
}

func describe(ctx context.Context, py string) string {
	out, err := exec.CommandContext(ctx, py, "-c", "import platform; print(platform.python_version())").Output()
	if err != nil {
		return py
	}
	return py + " (Python " + strings.TrimSpace(string(out)) + ")"
}

// runPython runs aux/py_bench.py once and reads its JSON lines.
func runPython(ctx context.Context, cfg Config, py string, rep int, logf func(string, ...any)) []Sample {
	cmd := command(ctx, cfg.Root, py, pyArgs(cfg, rep)...)
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stepLog{logf: logf, rest: &stderr}
	t0 := time.Now()
	err := cmd.Run()
	logf("Python: %5.1f s in all", time.Since(t0).Seconds())
	if err != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		err = fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail)
	}
	var samples []Sample
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	for sc.Scan() {
		var s Sample
		if json.Unmarshal(sc.Bytes(), &s) != nil || s.Side != "python" {
			continue
		}
		s.Rep = rep
		samples = append(samples, s)
	}
	if err != nil {
		logf("Python: %v", err)
		samples = append(samples, Sample{Side: "python", Op: "py_bench", Rep: rep, Error: firstLine(err.Error())})
	}
	for _, s := range samples {
		if s.Error != "" {
			logf("Python %s %s n=%d: %s", s.Op, s.Method, s.N, s.Error)
		}
	}
	return samples
}

// pyArgs is py_bench.py's command line for repetition rep: from the
// second on, without the starts of cfg.PyOnceFrom processes or more.
func pyArgs(cfg Config, rep int) []string {
	ns := cfg.Ns
	if rep > 1 && cfg.PyOnceFrom > 0 {
		ns = slices.DeleteFunc(slices.Clone(ns), func(n int) bool { return n >= cfg.PyOnceFrom })
	}
	args := []string{"aux/py_bench.py", "--methods", strings.Join(cfg.Methods, ","),
		"--ns", joinInts(ns), "--busy-ns", joinInts(cfg.Ns), "--workers", joinInts(cfg.Workers)}
	if cfg.Quick {
		args = append(args, "--quick")
	}
	return args
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// stepLog passes py_bench.py's lines of timing ("py_bench: 12.3 s  fork:
// ...") to logf as they come, and keeps the rest of its stderr.
type stepLog struct {
	logf    func(string, ...any)
	partial []byte
	rest    *strings.Builder
}

func (w *stepLog) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if step, ok := strings.CutPrefix(line, "py_bench: "); ok {
			w.logf("Python: %s", step)
		} else {
			w.rest.WriteString(line + "\n")
		}
	}
}
