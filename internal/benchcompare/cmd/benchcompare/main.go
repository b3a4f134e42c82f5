// Command benchcompare measures mp against Python's multiprocessing: the Go
// benchmarks and aux/py_bench.py alternately, then one table of medians and
// ratios, results.json and two charts (ratios.png, scale.png). Run it from
// the module's root; `make bench-compare` does.
//
//	go run ./internal/benchcompare/cmd/benchcompare [-quick] [-load] [-out dir]
//	go run ./internal/benchcompare/cmd/benchcompare -from dir/results.json
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/mpgo/mp/internal/benchcompare"
)

func main() {
	var cfg benchcompare.Config
	var ns, workers, methods, from string
	flag.StringVar(&cfg.Out, "out", "benchcompare-out", "`dir`ectory for results.json, table.md, ratios.png, scale.png")
	flag.IntVar(&cfg.Reps, "reps", 0, "repetitions of each side, alternating (default 3; 1 with -quick)")
	flag.BoolVar(&cfg.Quick, "quick", os.Getenv("QUICK") == "1", "each figure once, few iterations: a smoke test (default: QUICK=1 in the environment)")
	flag.BoolVar(&cfg.Load, "load", false, "run two CPU-bound competitors (sh -c 'while :; do :; done') during the run")
	flag.IntVar(&cfg.PyOnceFrom, "py-once-from", 1000, "Python's start + fan-in of this many processes or more: the first repetition only (-1: every one)")
	flag.BoolVar(&cfg.NoGo, "no-go", false, "skip the Go side")
	flag.StringVar(&cfg.Python, "python", "", "the Python interpreter (default: /usr/bin/python3 or python3, whichever imports numpy)")
	flag.StringVar(&ns, "ns", "", "process counts for start+ready+stop, PSS, fan-in and the busy workers (default 1,10,100,1000; -quick: 1,10,100)")
	flag.StringVar(&workers, "workers", "", "worker counts for tasks/s (default 1,10,100; -quick: 1,10)")
	flag.StringVar(&methods, "methods", "fork,forkserver", "Python start methods")
	flag.StringVar(&from, "from", "", "redraw the table and charts from this results.json, measuring nothing")
	flag.Parse()
	var err error
	if ns != "" {
		cfg.Ns, err = ints(ns)
	}
	if workers != "" && err == nil {
		cfg.Workers, err = ints(workers)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(2)
	}
	cfg.Methods = strings.Split(methods, ",")

	var res *benchcompare.Results
	if from != "" {
		res, err = benchcompare.Load(from)
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		res, err = benchcompare.Run(ctx, cfg)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		if res == nil {
			os.Exit(1)
		}
	}
	benchcompare.WriteTable(os.Stdout, res, benchcompare.Rows(res))
	files, werr := benchcompare.Write(cfg.Out, res)
	if werr != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", werr)
		os.Exit(1)
	}
	fmt.Printf("\nwrote %s\n", strings.Join(files, ", "))
	if err != nil {
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var v []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want a list of positive numbers, like 1,10,100", s)
		}
		v = append(v, n)
	}
	return v, nil
}
