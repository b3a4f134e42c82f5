#!/usr/bin/env python3
"""Python's multiprocessing, measured as our Go benchmarks measure mp.

The Python peer of `make bench-compare` (internal/benchcompare runs it, alternating
with the Go benchmarks). Standard library only, plus numpy where installed
(for the shared arrays and to sum streamed frames). One JSON object per line
on stdout, one per figure:

    {"side": "python", "op": "roundtrip", "method": "fork", "n": 0,
     "value": 41.2, "unit": "us", ...}

A figure that could not be measured has "error" instead of "value" (for
example 1,000 processes that did not start, or a point this machine cannot
carry, which says so). Each start method given runs every operation that
starts processes; the in-process ones (the shared arrays) run once, with
"method": "". The scale curves (start + ready + fan-in + stop of n, and a
round trip while n are busy) are in aux/py_scale.py. Each step's duration
goes to stderr ("py_bench:   12.3 s  fork: ...").

    python3 aux/py_bench.py [--quick] [--methods fork,forkserver]
                            [--ns 1,10,100,1000] [--busy-ns 1,10,100,1000]
                            [--workers 1,10,100]

--quick runs each figure once with few iterations: a smoke test.
"""
import argparse
import atexit
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

import py_scale

# numpy is imported by main(), not here: forkserver's children import this
# module again, and one that imports numpy at its top made each child cost
# 0.13 s and 17 MiB more (20 children, measured on 3.11).
np = None

MIB = 1 << 20


def emit(op, value=None, unit="", method="", n=0, error=None, **extra):
    rec = {
        "side": "python",
        "op": op,
        "method": method,
        "n": n,
        "unit": unit,
        "python": platform.python_version(),
        "executable": sys.executable,
    }
    if error is None:
        rec["value"] = value
    else:
        rec["error"] = error
    rec.update(extra)
    print(json.dumps(rec), flush=True)


# --- children (top level: forkserver pickles them by name) ---------------


def echo(conn):
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(msg)


def setter(conn, events):
    while True:
        i = conn.recv()
        if i is None:
            return
        events[i].set()


def frames(conn, count):
    frame = bytes(range(256)) * (MIB // 256)
    for _ in range(count):
        conn.send_bytes(frame)
    conn.close()


def nop(x):
    return x


# --- the measurements -----------------------------------------------------


def roundtrip(ctx, iters):
    """A Pipe round trip of a small pickled message: BenchmarkCall's peer."""
    front, back = ctx.Pipe()
    child = ctx.Process(target=echo, args=(back,))
    child.start()
    back.close()
    try:
        msg = ("echo", {"x": 1})
        for _ in range(min(iters, 1000)):  # warm up
            front.send(msg)
            front.recv()
        start = time.perf_counter()
        for _ in range(iters):
            front.send(msg)
            front.recv()
        return (time.perf_counter() - start) / iters * 1e6
    finally:
        front.send(None)
        child.join()


def event_sync(ctx, iters):
    """ping2's pattern: send an event's index, the child sets it, wait for
    it: BenchmarkSync's peer."""
    front, back = ctx.Pipe()
    events = [ctx.Event() for _ in range(4)]
    child = ctx.Process(target=setter, args=(back, events))
    child.start()
    back.close()
    try:
        def once(i):
            front.send(i)
            events[i].wait()
            events[i].clear()
        for k in range(min(iters, 1000)):
            once(k % 4)
        start = time.perf_counter()
        for k in range(iters):
            once(k % 4)
        return (time.perf_counter() - start) / iters * 1e6
    finally:
        front.send(None)
        child.join()


def stream(ctx, count):
    """1 MiB frames through a Pipe, summed here (with numpy when it is
    installed): BenchmarkPipeStream's and BenchmarkRing/frame=1MiB's peer."""
    front, back = ctx.Pipe(duplex=False)
    child = ctx.Process(target=frames, args=(back, count + 1))
    child.start()
    back.close()
    buf = bytearray(MIB)
    total = 0
    try:
        front.recv_bytes_into(buf)  # the child's start-up stays out
        start = time.perf_counter()
        for _ in range(count):
            front.recv_bytes_into(buf)
            total += int(np.frombuffer(buf, dtype=np.int64).sum()) if np is not None else buf[-1]
        took = time.perf_counter() - start
    finally:
        front.close()
        child.join()
    return count * MIB / took / 1e9


def tasks_executor(ctx, workers, batch):
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
        for f in [ex.submit(nop, i) for i in range(workers * 2)]:  # start them all
            f.result()
        start = time.perf_counter()
        for f in [ex.submit(nop, i) for i in range(batch)]:
            f.result()
        return batch / (time.perf_counter() - start)


def tasks_pool(ctx, workers, batch):
    with ctx.Pool(workers) as pool:
        for r in [pool.apply_async(nop, (i,)) for i in range(workers * 2)]:
            r.get()
        start = time.perf_counter()
        for r in [pool.apply_async(nop, (i,)) for i in range(batch)]:
            r.get()
        return batch / (time.perf_counter() - start)


def shm_fill_sum(rows, cols, number):
    """numpy's fill and sum on a multiprocessing.shared_memory segment:
    BenchmarkFill's and BenchmarkSum's peers. Best of 5, in GB/s."""
    nbytes = rows * cols * 8
    seg = shared_memory.SharedMemory(create=True, size=nbytes, name=f"mp-pybench-{os.getpid()}-{rows}x{cols}")
    try:
        a = np.ndarray((rows, cols), dtype=np.float64, buffer=seg.buf)
        a.fill(1.0)  # touch every page first, as benchArray does
        out = {}
        for name, fn in (("fill", lambda: a.fill(3.0)), ("sum", a.sum)):
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                best = min(best, (time.perf_counter() - start) / number)
            out[name] = nbytes / best / 1e9
        del a
        return out
    finally:
        seg.close()
        seg.unlink()


class Timer:
    """Says on stderr how long each step took, when the next begins (and
    at exit): where a run's time goes."""

    def __init__(self):
        self.step, self.t0 = None, time.perf_counter()
        atexit.register(self, None)

    def __call__(self, step):
        now = time.perf_counter()
        if self.step is not None:
            print(f"py_bench: {now - self.t0:6.1f} s  {self.step}", file=sys.stderr, flush=True)
        self.step, self.t0 = step, now


def ints(s):
    return [int(x) for x in s.split(",") if x]


def main():
    global np
    try:
        import numpy
        np = numpy
    except ImportError:  # the shared arrays are skipped, and said so
        pass
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="each figure once, few iterations")
    ap.add_argument("--methods", default="fork,forkserver")
    ap.add_argument("--ns", default="1,10,100,1000", help="process counts for start+ready+stop and fan-in (and busy)")
    ap.add_argument("--busy-ns", help="busy process counts for the round trip (default: --ns)")
    ap.add_argument("--workers", default="1,10,100", help="pool sizes for tasks/s")
    ap.add_argument("--timeout", type=float, default=120, help="seconds for n processes to be ready, and for their fan-in")
    ap.add_argument("--fanin", type=int, default=50000, help="fan-in: messages in all, spread over the n processes")
    ap.add_argument("--busy-time", type=float, default=1.0, help="seconds of round trips while n are busy")
    args = ap.parse_args()
    py_scale.raise_fd_limit()
    fanin_total = 3000 if args.quick else args.fanin
    timed = Timer()
    iters = 300 if args.quick else 5000
    frames_n = 20 if args.quick else 500
    batch = 200 if args.quick else 2000

    def measure(op, fn, unit, method="", n=0):
        try:
            emit(op, fn(), unit, method, n)
        except Exception as e:  # the figure fails, the run goes on
            emit(op, unit=unit, method=method, n=n, error=f"{type(e).__name__}: {e}")

    timed("shared arrays")
    if np is None:
        for rows in (100, 4096):
            for op in ("fill", "sum"):
                emit(op, unit="GB/s", n=rows, error="skipped: no numpy for " + sys.executable)
    else:
        for rows, cols, number in ((100, 100, 200 if args.quick else 20000), (4096, 4096, 1 if args.quick else 10)):
            try:
                r = shm_fill_sum(rows, cols, number)
                emit("fill", r["fill"], "GB/s", n=rows)
                emit("sum", r["sum"], "GB/s", n=rows)
            except Exception as e:
                emit("fill", unit="GB/s", n=rows, error=f"{type(e).__name__}: {e}")

    for method in args.methods.split(","):
        # The start method is set here, explicitly: Python 3.14 changed
        # Linux's default from fork to forkserver. (forkserver keeps its
        # default preload, this script's module, which imports numpy: a
        # child then starts from a server that has imported it once.)
        ctx = multiprocessing.get_context(method)
        timed(f"{method}: round trip, sync, stream")
        measure("roundtrip", lambda: roundtrip(ctx, iters), "us", method)
        measure("sync", lambda: event_sync(ctx, iters), "us", method)
        measure("stream", lambda: stream(ctx, frames_n), "GB/s", method)
        for n in ints(args.ns):
            timed(f"{method}: start + fan-in + stop of {n}")
            try:
                rd, st, pss, fanin = py_scale.scale(ctx, n, fanin_total, args.timeout)
                emit("spawn-ready", rd, "s", method, n)
                emit("spawn-stop", st, "s", method, n)
                emit("pss", pss, "MiB", method, n)
                emit("fanin", fanin, "msgs/s", method, n)
            except Exception as e:
                emit("spawn-ready", unit="s", method=method, n=n, error=f"{type(e).__name__}: {e}")
        for n in ints(args.busy_ns if args.busy_ns is not None else args.ns):
            timed(f"{method}: a round trip while {n} are busy")
            try:
                r = py_scale.busy(ctx, n, 0 if args.quick else args.busy_time, 200 if args.quick else 0, len(os.sched_getaffinity(0)))
                emit("busy", r["mean"], "us", method, n, **{k: v for k, v in r.items() if k != "mean"})
                emit("busy-p50", r["p50"], "us", method, n)
            except py_scale.Skip as e:
                emit("busy", unit="us", method=method, n=n, error=str(e))
            except Exception as e:
                emit("busy", unit="us", method=method, n=n, error=f"{type(e).__name__}: {e}")
        for w in ints(args.workers):
            timed(f"{method}: tasks through {w} workers")
            measure("tasks-executor", lambda: tasks_executor(ctx, w, batch), "tasks/s", method, w)
            measure("tasks-pool", lambda: tasks_pool(ctx, w, batch), "tasks/s", method, w)


if __name__ == "__main__":
    main()
