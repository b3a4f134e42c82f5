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
bytes), then pixels where pixel byte i is (i + number) mod 256. The number
is the camera's attempt, not the frame's place in the ring: a frame the
drop policies discard (ErrDropped) leaves its number unused. So the script
checks what holds under every policy: numbers only go up, frame k's number
is k plus at most the drops counted so far, and the pixels match the
frame's own number.

Exit status: 0 when every frame read is right, 1 when one is wrong, 3 when
the segment is not a ring this script can read (a header the Go side's
OpenRing would refuse too: ErrNotRing), 2 for bad arguments.
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
MAX_SLOT_SIZE = 1 << 32  # mp/shm's bounds (ring_layout.go)
MAX_SLOTS = 1 << 24
NOT_A_RING = 3  # the exit status for a header this script refuses
SLOT_HEADER = 16  # sequence number, length
FRAME_HEADER = 32  # the chapter's frame header


def refuse(why):
    """Exit, saying why the segment is not a ring this script can read."""
    print("ring_read.py: not a ring: %s" % why, file=sys.stderr)
    sys.exit(NOT_A_RING)


def read_header(buf):
    """The ring's geometry and counters, checked as Go's OpenRing does
    (decodeLayout in mp/shm/ring_layout.go): a scribbled header must not
    send a read past its slot or past the segment."""
    if len(buf) < HEADER:
        refuse("%d bytes is too small for a ring's header" % len(buf))
    if bytes(buf[0:8]) != MAGIC:
        refuse("no ring magic %r" % MAGIC)
    version, policy = struct.unpack_from("<II", buf, 8)
    if version != VERSION:
        refuse("layout version %d, this script reads %d" % (version, VERSION))
    slot_size, slots, stride, data = struct.unpack_from("<QQQQ", buf, 16)
    (step,) = struct.unpack_from("<Q", buf, 88)
    if not 1 <= slot_size <= MAX_SLOT_SIZE:
        refuse("slot size %d (want 1 to %d bytes)" % (slot_size, MAX_SLOT_SIZE))
    if not 1 <= slots <= MAX_SLOTS or slots & (slots - 1):
        refuse("%d slots (want a power of two from 1 to %d)" % (slots, MAX_SLOTS))
    if policy not in POLICIES:
        refuse("policy %d" % policy)
    want = (SLOT_HEADER + slot_size + 63) & ~63  # a slot's header and payload, in whole cache lines
    if stride != want or data != HEADER or len(buf) != HEADER + slots * stride:
        refuse("header says %d slots of %d bytes (stride %d, want %d; data at %d, want %d), the segment has %d bytes"
               % (slots, slot_size, stride, want, data, HEADER, len(buf)))
    if step % 2 == 0 or step >= max(slots, 2):
        refuse("slot step %d for %d slots (want an odd number below it)" % (step, slots))
    head, drops = struct.unpack_from("<QQ", buf, 128)
    (closed,) = struct.unpack_from("<I", buf, 388)
    return dict(slot_size=slot_size, slots=slots, stride=stride, step=step, policy=POLICIES[policy],
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
    last = -1  # the number of the last frame read
    for k in range(max(0, ring["head"] - ring["slots"]), ring["head"]):
        frame = read_frame(buf, ring, k)
        if frame is None:
            print("frame %d: overwritten while reading" % k)
            continue
        if len(frame) < FRAME_HEADER:
            print("frame at %d: %d bytes, shorter than a frame's header: WRONG" % (k, len(frame)))
            bad += 1
            continue
        number, _stamp, _crc, size = struct.unpack_from("<QQII", frame)
        (drops,) = struct.unpack_from("<Q", buf, 136)  # now: the frame was committed before
        pixels = frame[FRAME_HEADER:]
        want = ((np.arange(size, dtype=np.uint64) + number) % 256).astype(np.uint8)
        if number <= last:
            verdict = "WRONG: after frame %d" % last
        elif not k <= number <= k + drops:
            verdict = "WRONG: at ring position %d with %d drops" % (k, drops)
        else:
            verdict = "pixels " + ("ok" if np.array_equal(pixels, want) else "WRONG")
        last = number
        bad += "WRONG" in verdict
        if size == args.width * args.height * 3 and len(pixels) == size:
            pixels = pixels.reshape(args.height, args.width, 3)
        print("frame %d: %s %s, first pixel %s, %s" % (
            number, pixels.shape, pixels.dtype, pixels.reshape(-1)[:3].tolist(), verdict))
    del buf
    mm.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
