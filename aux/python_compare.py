#!/usr/bin/env python3
"""The original tutorial's message mechanism, measured on this machine.

A multiprocessing.Pipe round trip with pickled messages, the Python
counterpart of BenchmarkRoundTrip. Standard library only; `make
bench-python` runs it. With --load (`make bench-python LOAD=1`) it runs
beside two CPU-bound competitors, as BenchmarkUnderLoad does on the Go side.
"""
import contextlib
import multiprocessing as mp
import signal
import statistics
import subprocess
import sys
import time

N = 20000


def echo(conn):
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(("pong", msg[1]))


def exit_on_sigterm():
    """Make SIGTERM end the script as an exception does, so that its finally
    clauses stop the competitors and children it started."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@contextlib.contextmanager
def competitors(n=2):
    """n CPU-bound processes (sh loops) for the time of a with block. Each
    is stored as soon as it runs, so that all that started are stopped when
    the block ends, however it ends: even if the next one failed to start."""
    hogs = []
    try:
        for _ in range(n):
            hogs.append(subprocess.Popen(["sh", "-c", "while :; do :; done"]))
        yield hogs
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def main():
    exit_on_sigterm()
    load = "--load" in sys.argv[1:]
    with competitors(2 if load else 0):
        measure("beside two CPU-bound competitors" if load else "quiet")


def round_trips():
    """Five runs of N round trips through one Pipe, each in µs per round trip."""
    front, back = mp.Pipe()
    child = mp.Process(target=echo, args=(back,), daemon=True)  # ends with the script
    child.start()
    for _ in range(1000):  # warm up
        front.send(("ping", {"param": "gotcha!"}))
        front.recv()
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(N):
            front.send(("ping", {"param": "gotcha!"}))
            front.recv()
        runs.append((time.perf_counter() - start) / N * 1e6)
    front.send(None)
    child.join()
    return runs


def measure(condition):
    runs = round_trips()
    print(f"multiprocessing.Pipe round trip (pickle), {condition}: median {statistics.median(runs):.1f} µs "
          f"(runs: {', '.join(f'{r:.1f}' for r in runs)})")


if __name__ == "__main__":
    main()
