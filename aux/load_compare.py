#!/usr/bin/env python3
"""Go's message path beside Python's Pipe under the same load, told the same way.

Each round runs the Go side (BenchmarkUnderLoad: the raw pipe floor, a
Call, a Send + Recv round trip, each five times 20,000 round trips beside
two CPU-bound competitors that the benchmark starts) and then Python's
multiprocessing.Pipe round trip (five runs of 20,000 beside two competitors
started here), and reports each side as the median of its five runs: one
run's mean hides the same outliers on both sides, or on neither. `make
bench-load-compare` runs it (ROUNDS=6); standard library only, plus go.

    python3 aux/load_compare.py [rounds]
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

import python_compare

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GO_BENCH = "UnderLoad/(RawPipeRoundTrip|Call|RecvRoundTrip)$"
LINE = re.compile(r"BenchmarkUnderLoad/(\w+)-\d+\s+\d+\s+(\d+) ns/op\s+([\d.]+) cpu")


def go_round(binary):
    """The Go side of one round: {benchmark: ([µs per op], [CPU µs per op])}."""
    run = subprocess.run([binary, "-test.run", "^$", "-test.bench", GO_BENCH,
                          "-test.benchtime", "20000x", "-test.count", "5"],
                         cwd=os.path.join(ROOT, "mp"), capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"load_compare: the Go benchmark failed (status {run.returncode}):\n{run.stdout}{run.stderr}")
    out = run.stdout
    got = {}
    for m in LINE.finditer(out):
        us, cpu = got.setdefault(m[1], ([], []))
        us.append(int(m[2]) / 1000)
        cpu.append(float(m[3]))
    return got


def py_round():
    """Python's side of one round: five runs beside two competitors."""
    with python_compare.competitors():
        return python_compare.round_trips()


def main():
    python_compare.exit_on_sigterm()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    med = statistics.median
    if shutil.which("go") is None:
        sys.exit("load_compare: no go command on the PATH (the Go side is built with go test -c)")
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "mp.test")
        if subprocess.run(["go", "test", "-c", "-o", binary, "./mp"], cwd=ROOT).returncode != 0:
            sys.exit("load_compare: go test -c ./mp failed")
        calls, recvs, pys, wins = [], [], [], 0
        for r in range(1, rounds + 1):
            g, p = go_round(binary), med(py_round())
            floor, call, recv = (g[k] for k in ("RawPipeRoundTrip", "Call", "RecvRoundTrip"))
            calls.append(med(call[0]))
            recvs.append(med(recv[0]))
            pys.append(p)
            wins += med(call[0]) <= p
            print(f"round {r}: raw pipe {med(floor[0]):.1f} µs ({med(floor[1]):.1f} CPU µs), "
                  f"Call {med(call[0]):.1f} ({med(call[1]):.1f}; {med(call[0]) / med(floor[0]):.2f} × the floor), "
                  f"Send + Recv {med(recv[0]):.1f} ({med(recv[1]):.1f}), Python's Pipe {p:.1f}", flush=True)
    print(f"medians of the rounds, beside two CPU-bound competitors: Call {med(calls):.1f} µs, "
          f"Send + Recv {med(recvs):.1f} µs, Python's Pipe {med(pys):.1f} µs; "
          f"Call no slower than Python's Pipe in {wins} of {rounds} rounds")


if __name__ == "__main__":
    main()
