#!/usr/bin/env python3
"""numpy's fill and sum on the array sizes of BenchmarkSharedFill/Sum.

The reference the shared-memory issue quoted. Needs numpy
(apt-get install python3-numpy); `make bench-numpy` runs this script or
says why it cannot.

A never-written array (np.zeros) is mapped to the kernel's shared zero page
until it is written, so summing it measures the cache, not memory: it is
reported separately and is not a fair comparison.
"""
import timeit

import numpy as np


def rate(nbytes, fn, number):
    best = min(timeit.repeat(fn, number=number, repeat=5)) / number
    return nbytes / best / 1e9


for rows, cols, number in ((4096, 4096, 10), (100, 100, 20000)):
    n = rows * cols
    written = np.empty(n)
    written.fill(1.0)
    print(f"{rows}x{cols} float64 ({n * 8} bytes), best of 5:")
    print(f"  fill(3.0)                 {rate(n * 8, lambda: written.fill(3.0), number):6.1f} GB/s")
    print(f"  sum, written array        {rate(n * 8, written.sum, number):6.1f} GB/s")
    zeros = np.zeros(n)
    print(f"  sum, never-written zeros  {rate(n * 8, zeros.sum, number):6.1f} GB/s  (zero page: not memory)")
