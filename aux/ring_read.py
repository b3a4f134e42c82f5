#!/usr/bin/env python3
"""Read the frames still in a ring of mp/shm, as numpy arrays.

Usage: python3 aux/ring_read.py SEGMENT [--width 1280] [--height 720]

SEGMENT is a named ring in /dev/shm (or a path), such as the one
`go run ./part3/stream -named` prints. The script maps it read-only and
follows the layout documented in mp/shm's package documentation (go doc
github.com/mpgo/mp/mp/shm): a 4096-byte header, then the slots, frame k in
slot k*step mod slots. It only
looks: it takes no side of the ring, so the chapter's own consumer is not
disturbed. A frame is read only while its slot's sequence number says it
is whole, and checked again after the copy (the producer may reuse the
slot meanwhile).

Frames are the chapter's: a 32-byte header (number, stamp, CRC-32C, pixel
bytes), then pixels where pixel byte i is (i + number) mod 256.
"""

import argparse
import mmap
import os
import struct
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(
        "ring_read.py needs numpy, which this Python (%s) cannot import: "
        "apt-get install python3-numpy (or pip install numpy)" % sys.executable
    )

MAGIC = b"mp-ring\x00"
VERSION = 3
POLICIES = {0: "block", 1: "drop-newest", 2: "drop-oldest"}
HEADER = 4096  # the ring's header; slot 0 starts here
SLOT_HEADER = 16  # sequence number, length
FRAME_HEADER = 32  # the chapter's frame header


def read_header(buf):
    """The ring's geometry and counters, checked as Go's OpenRing does."""
    if len(buf) < HEADER or bytes(buf[0:8]) != MAGIC:
        sys.exit("not a ring: no magic %r" % MAGIC)
    version, policy = struct.unpack_from("<II", buf, 8)
    if version != VERSION:
        sys.exit("ring layout version %d, this script reads %d" % (version, VERSION))
    slot_size, slots, stride, data = struct.unpack_from("<QQQQ", buf, 16)
    (step,) = struct.unpack_from("<Q", buf, 88)
    if slots < 1 or slots & (slots - 1) or data != HEADER or len(buf) != HEADER + slots * stride:
        sys.exit("corrupt ring header")
    if step % 2 == 0 or step >= max(slots, 2):
        sys.exit("corrupt ring header: slot step %d for %d slots" % (step, slots))
    head, drops = struct.unpack_from("<QQ", buf, 128)
    (closed,) = struct.unpack_from("<I", buf, 388)
    return dict(slot_size=slot_size, slots=slots, stride=stride, step=step, policy=POLICIES.get(policy, "?"),
                head=head, drops=drops, closed=bool(closed))


def read_frame(buf, ring, k):
    """Frame k as a numpy array of bytes (a copy), or None if its slot no
    longer holds it."""
    off = HEADER + (k * ring["step"] % ring["slots"]) * ring["stride"]
    seq, length = struct.unpack_from("<QQ", buf, off)
    if seq != k + 1 or length > ring["slot_size"]:
        return None
    frame = np.frombuffer(buf, dtype=np.uint8, count=length, offset=off + SLOT_HEADER).copy()
    (again,) = struct.unpack_from("<Q", buf, off)
    return frame if again == seq else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("segment")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    args = ap.parse_args()
    path = args.segment if "/" in args.segment else os.path.join("/dev/shm", args.segment)
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    buf = memoryview(mm)
    ring = read_header(buf)
    print("ring {}: {slots} slots of {slot_size} bytes, policy {policy}, {head} frames committed, "
          "{drops} dropped, {}".format(os.path.basename(path), "closed" if ring["closed"] else "open", **ring))
    bad = 0
    for k in range(max(0, ring["head"] - ring["slots"]), ring["head"]):
        frame = read_frame(buf, ring, k)
        if frame is None:
            print("frame %d: overwritten while reading" % k)
            continue
        number, _stamp, _crc, size = struct.unpack_from("<QQII", frame)
        pixels = frame[FRAME_HEADER:FRAME_HEADER + size]
        want = ((np.arange(size, dtype=np.uint64) + number) % 256).astype(np.uint8)
        ok = number == k and np.array_equal(pixels, want)
        bad += not ok
        if size == args.width * args.height * 3:
            pixels = pixels.reshape(args.height, args.width, 3)
        print("frame %d: %s %s, first pixel %s, pixels %s" % (
            number, pixels.shape, pixels.dtype, pixels.reshape(-1)[:3].tolist(), "ok" if ok else "WRONG"))
    del buf
    mm.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
