#!/usr/bin/env python3
"""The message path's floors and the library's round trips, told as ratios.

Each round runs every benchmark below in a test binary of its own (one
binary running them all in file order favours some), in an order rotated
from round to round, and divides each of the library's figures by its
floor measured in the same round. The noise of this shared machine moves
single figures by ±30%; a ratio per round and the median over many rounds
is what holds. With --base REV a second binary is built from that commit
and the two alternate, each benchmark run by one and then the other: the
before/after of a change, per round, on the same load. `make bench-ladder`
runs it; standard library only, plus go (and git for --base).

    python3 aux/ladder.py [--rounds 8] [--n 50000] [--spin 0] [--load] [--base REV] [--pin CPU]

--spin 0 runs with MP_SPIN=0 (polling off: the waiting path); --load runs
beside two CPU-bound competitors started here, as BenchmarkUnderLoad does;
--pin CPU runs both sides of every round trip on one CPU: no wake-up then
crosses CPUs (on a virtual machine, an interrupt to another virtual CPU
that costs more than the work measured), and the figures hold within a few
percent from run to run, which makes it the way to compare two versions of
the library's own work (with --spin 0: polling on one CPU only takes turns).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

import python_compare

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOORS = ["RawPipeRoundTrip", "RawPollReadRoundTrip", "RawFramedReadRoundTrip", "RawFramedRoundTrip",
          "RawEventfdRoundTrip", "RawFramedEventRoundTrip", "RawFutexRoundTrip"]
LIBRARY = ["Call", "RecvRoundTrip", "Sync"]
# (figure, its floor): what docs/benchmarks.md reports.
RATIOS = [("Call", "RawPipeRoundTrip"), ("Call", "RawFramedRoundTrip"), ("RecvRoundTrip", "RawPipeRoundTrip"),
          ("Sync", "RawEventfdRoundTrip"), ("Sync", "RawFramedEventRoundTrip"),
          ("RawFramedRoundTrip", "RawPipeRoundTrip"), ("RawFramedReadRoundTrip", "RawPipeRoundTrip"),
          ("RawFramedEventRoundTrip", "RawEventfdRoundTrip"), ("RawFutexRoundTrip", "RawPipeRoundTrip"),
          ("RawPollReadRoundTrip", "RawPipeRoundTrip")]
LINE = re.compile(r"^Benchmark(\w+?)(?:-\d+)?\s+\d+\s+(\d+(?:\.\d+)?) ns/op\s+([\d.]+) cpu", re.M)


def build(tree, out):
    """go test -c the package mp of the module at tree into out."""
    if subprocess.run(["go", "test", "-c", "-o", out, "./mp"], cwd=tree).returncode != 0:
        sys.exit(f"ladder: go test -c ./mp failed in {tree}")


def build_base(rev, tmp):
    """The test binary of commit rev, built from its files (git archive)."""
    # rev is resolved to a commit first: given to git archive as it is, a
    # rev starting with - was taken as an option (--output=FILE wrote FILE).
    commit = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}"],
                            cwd=ROOT, capture_output=True, text=True)
    if commit.returncode != 0:
        sys.exit(f"ladder: --base {rev}: not a commit of this repository")
    src = os.path.join(tmp, "base-src")
    os.mkdir(src)
    archive = subprocess.run(["git", "archive", commit.stdout.strip()], cwd=ROOT, capture_output=True)
    if archive.returncode != 0:
        sys.exit(f"ladder: git archive {rev}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", src], input=archive.stdout, check=True)
    out = os.path.join(tmp, "base.test")
    build(src, out)
    return out


# The CPU the benchmarks (and the processes they start) run on, if --pin.
pin_cpu = None


def run_one(binary, bench, n, env):
    """One benchmark alone: (µs per op, CPU µs per op), or None if the binary lacks it."""
    pin = None if pin_cpu is None else (lambda: os.sched_setaffinity(0, {pin_cpu}))
    run = subprocess.run([binary, "-test.run", "^$", "-test.bench", f"^Benchmark{bench}$",
                          "-test.benchtime", f"{n}x"], cwd=os.path.join(ROOT, "mp"),
                         capture_output=True, text=True, env=env, preexec_fn=pin)
    if run.returncode != 0:
        sys.exit(f"ladder: {bench} failed (status {run.returncode}):\n{run.stdout}{run.stderr}")
    m = LINE.search(run.stdout)
    return (float(m[2]) / 1000, float(m[3])) if m else None


def spread(values, fmt="{:.2f}"):
    """A median and its range, as docs/benchmarks.md writes them."""
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def report(name, rounds):
    """Medians per benchmark and per ratio over the rounds of one binary."""
    print(f"== {name}: {len(rounds)} rounds")
    for bench in FLOORS + LIBRARY:
        got = [r[bench] for r in rounds if r.get(bench)]
        if not got:
            print(f"  {bench:<24} not measured: the binary has no such benchmark, or it reports no CPU time")
            continue
        print(f"  {bench:<24} µs {spread([g[0] for g in got], '{:.1f}')}, "
              f"CPU µs {spread([g[1] for g in got], '{:.1f}')}")
    for fig, floor in RATIOS:
        pairs = [(r[fig], r[floor]) for r in rounds if r.get(fig) and r.get(floor)]
        if pairs:
            print(f"  {fig + ' ÷ ' + floor:<48} {spread([a[0] / b[0] for a, b in pairs])}, "
                  f"CPU {spread([a[1] / b[1] for a, b in pairs])}")


def compare(new, base):
    """The after ÷ before of each figure, per round: lower in how many."""
    print("== after ÷ before, per round (same round, binaries alternating)")
    for bench in FLOORS + LIBRARY:
        pairs = [(n[bench], b[bench]) for n, b in zip(new, base) if n.get(bench) and b.get(bench)]
        if pairs:
            wall = [a[0] / b[0] for a, b in pairs]
            cpu = [a[1] / b[1] for a, b in pairs]
            print(f"  {bench:<24} {spread(wall)}, lower in {sum(w < 1 for w in wall)} of {len(wall)}; "
                  f"CPU {spread(cpu)}, lower in {sum(c < 1 for c in cpu)} of {len(cpu)}")


def main():
    python_compare.exit_on_sigterm()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--n", type=int, default=50000, help="round trips per run")
    ap.add_argument("--spin", choices=["0", "1"], help="MP_SPIN for the runs (default: the environment's)")
    ap.add_argument("--load", action="store_true", help="beside two CPU-bound competitors")
    ap.add_argument("--base", help="a commit to compare with, its binary alternating with this tree's")
    ap.add_argument("--pin", type=int, metavar="CPU",
                    help="run the benchmarks, both sides, on this CPU alone (sched_setaffinity(2)): "
                         "no wake-up crosses CPUs, and figures hold within a few percent")
    args = ap.parse_args()
    if args.rounds < 1 or args.n < 1:
        sys.exit("ladder: --rounds and --n must be at least 1")
    global pin_cpu
    if args.pin is not None:
        if args.pin not in os.sched_getaffinity(0):
            sys.exit(f"ladder: --pin {args.pin}: not a CPU this process may run on "
                     f"({sorted(os.sched_getaffinity(0))})")
        pin_cpu = args.pin
    env = dict(os.environ)
    if args.spin is not None:
        env["MP_SPIN"] = args.spin
    with tempfile.TemporaryDirectory() as tmp:
        binaries = [("this tree", os.path.join(tmp, "new.test"))]
        build(ROOT, binaries[0][1])
        if args.base:
            binaries.append((f"base {args.base}", build_base(args.base, tmp)))
        benches = FLOORS + LIBRARY
        results = {name: [] for name, _ in binaries}
        with python_compare.competitors(2 if args.load else 0):
            for r in range(args.rounds):
                got = {name: {} for name, _ in binaries}
                for i in range(len(benches)):
                    bench = benches[(i + r) % len(benches)]
                    for name, binary in binaries[::1 if r % 2 == 0 else -1]:
                        got[name][bench] = run_one(binary, bench, args.n, env)
                for name, _ in binaries:
                    results[name].append(got[name])
                    g = got[name]
                    print(f"round {r + 1} ({name}): " + ", ".join(
                        f"{b} {g[b][0]:.1f}" for b in benches if g.get(b)) + " µs", flush=True)
    condition = ("beside two CPU-bound competitors" if args.load else "quiet") + \
        (f", MP_SPIN={env['MP_SPIN']}" if "MP_SPIN" in env else "") + \
        (f", pinned to CPU {pin_cpu}" if pin_cpu is not None else "")
    print(f"-- {condition}, {args.n} round trips per run")
    for name, _ in binaries:
        report(name, results[name])
    if args.base:
        compare(results[binaries[0][0]], results[binaries[1][0]])


if __name__ == "__main__":
    main()
