"""The scale curves' Python peers, for aux/py_bench.py.

- scale(): start n processes, each reports ready; the PSS of each, idle;
  then each sends a burst of small messages through its own Pipe to the
  parent, which reads them all (the fan-in); then stop them all: the peer
  of `main1 -scale n`, phase for phase.
- busy(): a Pipe round trip with one more process while n processes each
  send a small message every 10 ms through their own Pipe to the parent,
  which reads them in a thread of its own: the peer of
  BenchmarkCallWhileBusy/workers=n.

Standard library only. The children are top-level functions here, which
forkserver pickles by name (it passes sys.path, so this module imports in
its children as in the parent).
"""
import os
import resource
import statistics
import threading
import time
from multiprocessing.connection import wait

TICK = ("tick", {"x": 1})
BUSY_PERIOD = 0.010  # each busy process's message, as busyPeriod in Go
PROJECT_FROM = 100  # busy processes measured before the rest start


def raise_fd_limit():
    """Raise the soft limit of open files to the hard one, as Go's runtime
    does at start: 1,000 children hold a pipe end each in the parent."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Pss line in /proc/{pid}/smaps_rollup")


def sched_ns(pid, tid=None):
    """The time pid's threads (or its thread tid) have run, in ns, from
    schedstat: /proc/<pid>/stat counts 10 ms ticks, too coarse for a
    process that runs a few µs at a time."""
    tids = [tid] if tid is not None else os.listdir(f"/proc/{pid}/task")
    total = 0
    for t in tids:
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


# --- children (top level: forkserver pickles them by name) ---------------


def idle(ready, go, stop, out, count):
    """Ready, idle until go, send count messages, wait for the stop."""
    ready.put(os.getpid())
    go.wait()
    if not stop.is_set():
        for _ in range(count):
            out.send(("tick", None))
    out.close()
    stop.wait()


def busy_child(conn, period):
    """Wait for its phase, then send TICK every period (dropping the ticks
    it is too late for, as a Go Ticker does) until the parent's None."""
    phase = conn.recv()
    if phase is None:
        return
    nxt = time.monotonic() + phase
    while True:
        if conn.poll(max(0.0, nxt - time.monotonic())):
            return  # the stop
        conn.send(TICK)
        nxt += period
        now = time.monotonic()
        while nxt <= now:
            nxt += period


def echo(conn):
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(msg)


# --- the fan-in, inside start + ready + stop -----------------------------


def scale(ctx, n, total, timeout):
    """Start n processes, each reports ready; their PSS, idle; each sends
    total/n messages (rounded up) through its Pipe, read here as they come;
    stop them all. Returns (ready s, stopped s, PSS MiB per process,
    fan-in msgs/s)."""
    ready, go, stop = ctx.SimpleQueue(), ctx.Event(), ctx.Event()
    each = max(1, -(-total // n))
    procs, conns = [], []
    try:
        begin = time.perf_counter()
        deadline = begin + timeout
        for _ in range(n):
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=idle, args=(ready, go, stop, w, each), daemon=True)
            p.start()
            w.close()
            procs.append(p)
            conns.append(r)
        for got in range(n):
            # SimpleQueue.get blocks for good: poll its reader instead, so
            # that a child that never comes fails the figure, not the run.
            if not ready._reader.poll(max(0.0, deadline - time.perf_counter())):
                raise TimeoutError(f"{got} of {n} ready after {timeout:.0f} s")
            ready.get()
        all_ready = time.perf_counter()
        pss = sum(pss_kib(p.pid) for p in procs) / n / 1024
        fanin = read_burst(go, conns, each, timeout)
        t0 = time.perf_counter()
        stop.set()
        for p in procs:
            p.join()
        return all_ready - begin, time.perf_counter() - t0, pss, fanin
    finally:
        stop.set()
        go.set()
        for c in conns:
            c.close()
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()


def read_burst(go, conns, each, timeout):
    """Set go and read each message of every conn: messages/s."""
    left = {c: each for c in conns}
    received = 0
    start = time.perf_counter()
    go.set()
    deadline = start + timeout
    while left:
        ready = wait(list(left), max(0.0, deadline - time.perf_counter()))
        if not ready:
            raise TimeoutError(f"fan-in: {received} of {each * len(conns)} messages after {timeout:.0f} s")
        for c in ready:
            c.recv()  # EOFError if its child died: the figure fails
            received += 1
            left[c] -= 1
            if left[c] == 0:
                del left[c]
    return received / (time.perf_counter() - start)


# --- a round trip while n are busy ---------------------------------------


class Reader(threading.Thread):
    """Reads the busy processes' messages, counting them, until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.conns = []
        self.count = 0
        self.tid = None
        self.started_tid = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False

    def add(self, conns):
        self.conns = self.conns + conns  # a new list: run() reads the old one whole
        os.write(self._wake_w, b"x")

    def run(self):
        self.tid = threading.get_native_id()
        self.started_tid.set()
        while not self._stopping:
            for c in wait(self.conns + [self._wake_r]):
                if c == self._wake_r:
                    os.read(self._wake_r, 64)
                    continue
                try:
                    c.recv()
                except (EOFError, OSError):
                    self.conns = [x for x in self.conns if x is not c]
                    continue
                self.count += 1

    def stop(self):
        self._stopping = True
        os.write(self._wake_w, b"x")
        self.join()
        os.close(self._wake_r)
        os.close(self._wake_w)


def busy(ctx, n, seconds, iters, ncpu):
    """A Pipe round trip while n processes are busy. Returns a dict: mean
    and median of the round trip (µs), load consumed (msgs/s), the CPU the
    busy processes and the reading thread used (% of one CPU), the busy
    processes' CPU per message (µs). Raises Skip when the machine could
    not carry n of them, projected from what the first 100 cost (measured
    once per start method)."""
    procs, conns = [], []
    reader = Reader()
    reader.start()
    reader.started_tid.wait()
    self_pid = os.getpid()

    def cpu():
        return sum(sched_ns(p.pid) for p in procs), sched_ns(self_pid, reader.tid)

    def start(lo, hi):
        new = []
        for i in range(lo, hi):
            front, back = ctx.Pipe()
            p = ctx.Process(target=busy_child, args=(back, BUSY_PERIOD), daemon=True)
            p.start()
            back.close()
            procs.append(p)
            conns.append(front)
            new.append(front)
            front.send(i * BUSY_PERIOD / n)  # its phase, spread over the period
        reader.add(new)

    def settle(d):
        (b0, r0), c0, t0 = cpu(), reader.count, time.perf_counter()
        time.sleep(d)  # a measurement's length, not a synchronization
        (b1, r1), el = cpu(), time.perf_counter() - t0
        return 100 * (b1 - b0) / 1e9 / el, 100 * (r1 - r0) / 1e9 / el, reader.count - c0

    echo_front = echo_child = None
    try:
        first = min(n, PROJECT_FROM)
        method = ctx.get_start_method()
        if first == PROJECT_FROM and method in _measured:
            b, r = _measured[method]  # the first 100 cost that a moment ago
        else:
            start(0, first)
            settle(0.1)  # their first ticks
            b, r, _ = settle(0.5)
            if first == PROJECT_FROM:
                _measured[method] = b, r
        projected = (b + r) * n / first
        if projected > 75 * ncpu and not os.environ.get("MP_BENCH_OVERLOAD"):
            raise Skip(f"skipped: {n} busy processes would need {projected:.0f} % of a CPU ({first} used {b:.1f} %, "
                       f"the parent's reading thread {r:.1f} %), more than 3/4 of this machine's {ncpu} CPUs; "
                       f"MP_BENCH_OVERLOAD=1 runs it anyway")
        start(len(procs), n)
        settle(0.1)
        echo_front, back = ctx.Pipe()
        echo_child = ctx.Process(target=echo, args=(back,), daemon=True)
        echo_child.start()
        back.close()
        times = []
        for _ in range(100):  # warm up
            echo_front.send(TICK)
            echo_front.recv()
        (b0, r0), c0, t0 = cpu(), reader.count, time.perf_counter()
        end = t0 + seconds
        while (len(times) < iters) if iters else (time.perf_counter() < end):
            s = time.perf_counter()
            echo_front.send(TICK)
            echo_front.recv()
            times.append(time.perf_counter() - s)
        (b1, r1), el = cpu(), time.perf_counter() - t0
        msgs = reader.count - c0
        busy_cpu = 100 * (b1 - b0) / 1e9 / el
        return {
            "mean": statistics.fmean(times) * 1e6,
            "p50": statistics.median(times) * 1e6,
            "load_msgs_s": msgs / el,
            "busy_cpu_pct": busy_cpu,
            "reader_cpu_pct": 100 * (r1 - r0) / 1e9 / el,
            "busy_us_per_msg": (b1 - b0) / 1e3 / msgs if msgs else None,
        }
    finally:
        if echo_child is not None:
            echo_front.send(None)
            echo_child.join()
        reader.stop()
        for c in conns:
            try:
                c.send(None)
            except OSError:
                pass
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()
        for c in conns:
            c.close()


# What the first PROJECT_FROM busy processes cost (theirs, the reading
# thread's, in % of a CPU), by start method: a larger n is projected from
# it without starting them again.
_measured = {}


class Skip(Exception):
    """A point this machine cannot run; its message says why."""
