// Chapter 9, stream: video frames from one process to another through a shared-memory ring.
//
// Messages through a pipe cost two copies and a system call each: fine for
// commands, too slow for a camera's frames. A ring of slots in memory that
// both processes map costs one write: the backend renders each frame
// straight into a slot, the frontend reads it where it lies. The backend
// here is a synthetic camera; the frontend checks every frame (its number
// and a CRC-32C) and prints frames/s, GB/s, drops and latency at the end,
// or at Ctrl-C.
//
// Run it with: go run ./part3/stream   (try -slow 20ms, with and without
// -policy drop-newest)
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/story"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/shm"
	"golang.org/x/sys/unix"
)

// A frame is a 32-byte header, then the pixels: its number, when it was
// rendered (CLOCK_MONOTONIC, which both processes share, in nanoseconds),
// a CRC-32C of the pixels and their size. aux/ring_read.py reads the same.
const frameHeader = 32

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// camera is the backend: it opens the ring the frontend created and
// produces into it.
type camera struct {
	*mp.Backend
	ring     *shm.Ring
	producer *shm.Producer
}

// PreRun opens the ring from the three files the frontend passed (the
// memory and two eventfds) and takes the producing side: from now on, if
// this process dies, the frontend's wait on the ring ends with an error.
func (c *camera) PreRun(ctx context.Context) error {
	var err error
	c.ring, err = shm.OpenRing(c.File(0), c.File(1), c.File(2))
	if err != nil {
		return err
	}
	c.producer, err = c.ring.Producer()
	if err != nil {
		return err
	}
	c.Log().Info("pre-run: producing into the ring")
	return nil
}

// PostRun unmaps the ring; the frontend owns it.
func (c *camera) PostRun() error {
	if c.ring == nil {
		return nil
	}
	return c.ring.Close()
}

// stream renders frames straight into the ring's slots until it has made
// the number asked for (0: until stopped), then closes its side: the end of
// the stream, which the frontend sees as io.EOF once it has read them all.
// When the ring is full, Reserve waits (policy block) or says the frame is
// dropped (the drop policies), and the camera goes on with the next one.
func (c *camera) stream(ctx context.Context, m mp.Message) error {
	frames, err := m.Params.Int("frames")
	if err != nil {
		return err
	}
	for n := 0; frames == 0 || n < frames; n++ {
		slot, err := c.producer.Reserve(ctx)
		if errors.Is(err, shm.ErrDropped) {
			continue
		}
		if errors.Is(err, io.ErrClosedPipe) {
			return nil // the frontend stopped reading: the end
		}
		if err != nil {
			return err
		}
		render(slot, uint64(n))
		if err := c.producer.Commit(len(slot)); err != nil {
			return err
		}
	}
	return c.producer.Close()
}

// render draws frame n into f: pixel i is byte(i+n), a pattern any reader
// can check, then stamps the header.
func render(f []byte, n uint64) {
	pixels := f[frameHeader:]
	for i := range min(256, len(pixels)) {
		pixels[i] = byte(uint64(i) + n)
	}
	for done := 256; done < len(pixels); done *= 2 { // the pattern repeats every 256 bytes
		copy(pixels[done:], pixels[:done])
	}
	binary.LittleEndian.PutUint64(f[0:], n)
	binary.LittleEndian.PutUint64(f[8:], monotonicNow())
	binary.LittleEndian.PutUint32(f[16:], crc32.Checksum(pixels, castagnoli))
	binary.LittleEndian.PutUint32(f[20:], uint32(len(pixels)))
}

func monotonicNow() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

var cameraKind = mp.NewKind("Camera", func(b *mp.Backend) *camera { return &camera{Backend: b} }).
	Handle("stream", (*camera).stream)

// options are the chapter's flags.
type options struct {
	width, height, slots, frames int
	policy                       shm.FullPolicy
	slow                         time.Duration
	named                        bool
}

func main() {
	mp.Init()
	var o options
	var policy string
	flag.IntVar(&o.width, "width", 1280, "frame width in pixels (3 bytes each)")
	flag.IntVar(&o.height, "height", 720, "frame height in pixels")
	flag.IntVar(&o.slots, "slots", 8, "slots in the ring (a power of two)")
	flag.IntVar(&o.frames, "frames", 300, "frames to stream; 0 streams until Ctrl-C")
	flag.StringVar(&policy, "policy", "block", "when the ring is full: block, drop-newest or drop-oldest")
	flag.DurationVar(&o.slow, "slow", 0, "work the consumer does per frame (a slow consumer)")
	flag.BoolVar(&o.named, "named", false, "keep the ring in /dev/shm under a name, for aux/ring_read.py, until Ctrl-C")
	story.ParseFlags("part3/stream") // -h, and a bad flag or argument is a usage error (status 2)
	log := mplog.New("main", mplog.Front)
	var err error
	if o.policy, err = shm.ParseFullPolicy(policy); err != nil {
		story.Usage(err) // before anything starts
	}
	if err := o.check(); err != nil {
		story.Usage(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, o); err != nil || ctx.Err() != nil {
		story.Exit(ctx, log, err)
	}
	log.Info("ring closed, camera stopped, bye")
}

// The flags' bounds: an 8K frame at most, and a ring the machine can
// allocate at once (it is mapped, and filled, as it is created).
const (
	maxWidth, maxHeight = 7680, 4320
	maxSlots            = 1024
	maxRingBytes        = 2 << 30
)

// check reports a flag out of its bounds, saying why.
func (o options) check() error {
	switch {
	case o.width < 1 || o.width > maxWidth:
		return fmt.Errorf("bad -width %d: want 1 to %d pixels", o.width, maxWidth)
	case o.height < 1 || o.height > maxHeight:
		return fmt.Errorf("bad -height %d: want 1 to %d pixels", o.height, maxHeight)
	case o.slots < 1 || o.slots > maxSlots || o.slots&(o.slots-1) != 0:
		return fmt.Errorf("bad -slots %d: want a power of two from 1 to %d (the ring numbers its slots by masking)", o.slots, maxSlots)
	case o.slots*(frameHeader+o.width*o.height*3) > maxRingBytes:
		return fmt.Errorf("bad -slots %d with %dx%d frames: the ring would hold %d MiB, more than %d MiB", o.slots, o.width, o.height, o.slots*(frameHeader+o.width*o.height*3)>>20, maxRingBytes>>20)
	case o.frames < 0:
		return fmt.Errorf("bad -frames %d: want 0 (until Ctrl-C) or more", o.frames)
	case o.slow < 0:
		return fmt.Errorf("bad -slow %v: want 0 or more", o.slow)
	}
	return nil
}

func run(ctx context.Context, log *slog.Logger, o options) error {
	// The frontend creates the ring: anonymous (a memfd, nothing in
	// /dev/shm to leave behind) unless -named asks for a name that other
	// programs can open. Its memory is allocated and mapped now.
	cfg := shm.RingConfig{SlotSize: frameHeader + o.width*o.height*3, Slots: o.slots, Policy: o.policy}
	var ring *shm.Ring
	var err error
	if o.named {
		ring, err = shm.CreateRing("frames", cfg)
	} else {
		ring, err = shm.CreateRingAnon("frames", cfg)
	}
	if err != nil {
		return err
	}
	defer ring.Close() // unlinks a named ring too
	log.Info(fmt.Sprintf("ring of %d slots of %d bytes (%.1f MiB), policy %s",
		cfg.Slots, cfg.SlotSize, float64(cfg.Slots*cfg.SlotSize)/(1<<20), cfg.Policy))

	// The camera gets the ring's three files; it has opened the ring and
	// taken the producing side before Start returns.
	files, err := ring.Files()
	if err != nil {
		return err
	}
	cam, err := cameraKind.Start(ctx, mp.Options{Name: "camera", Files: files})
	if err != nil {
		return err
	}
	defer cam.Close()
	// Whatever ends the story, the frontend closes its side first: a camera
	// waiting on a full ring learns at once that nobody reads any more.
	consumer, err := ring.Consumer()
	if err != nil {
		return err
	}
	defer consumer.Close()
	if err := cam.Send(ctx, "stream", mp.Params{"frames": o.frames}); err != nil {
		return err
	}
	log.Info(fmt.Sprintf("streaming %s %dx%dx3 frames from the camera, pid %d (frontend pid %d)",
		count(o.frames), o.width, o.height, cam.Pid(), os.Getpid()))

	// Ctrl-C ends the stream too (with -frames 0, it is the only end): the
	// figures of the frames received so far come first, then the clean-up.
	st, err := consume(ctx, consumer, o.slow)
	if err != nil && ctx.Err() == nil {
		return err
	}
	st.report(log, consumer.Drops(), cfg.SlotSize-frameHeader)
	if err != nil {
		return err
	}

	if o.named {
		// The last frames stay in their slots: aux/ring_read.py maps the
		// segment by its name and reads them with numpy.
		log.Info("ring kept at " + shm.Dir + "/" + ring.Name() + " for aux/ring_read.py; Ctrl-C to end")
		<-ctx.Done()
		return nil
	}
	if err := consumer.Close(); err != nil {
		return err
	}
	return cam.Close()
}

func count(frames int) string {
	if frames == 0 {
		return "until Ctrl-C:"
	}
	return strconv.Itoa(frames)
}

// stats is what the consumer saw.
type stats struct {
	frames    int
	elapsed   time.Duration
	latencies []time.Duration
}

// consume reads frames where they lie until the end of the stream (or
// until ctx ends), checking each one: numbers only go up (they go up by one
// unless frames were dropped), and the pixels match their CRC-32C. The view
// is valid until Release, which gives the slot back to the camera. The
// stats count the frames checked, whatever ended the stream.
func consume(ctx context.Context, c *shm.Consumer, slow time.Duration) (stats, error) {
	var st stats
	next := uint64(0)
	var start time.Time
	for {
		f, err := c.Next(ctx)
		if err != nil {
			st.elapsed = time.Since(start)
			if err == io.EOF {
				return st, nil
			}
			return st, err
		}
		if st.frames == 0 {
			start = time.Now()
		}
		if err := check(f, next); err != nil {
			return st, err
		}
		st.latencies = append(st.latencies, time.Duration(monotonicNow()-binary.LittleEndian.Uint64(f[8:])))
		next = binary.LittleEndian.Uint64(f) + 1
		st.frames++
		if slow > 0 {
			time.Sleep(slow) // the consumer's work on the frame, simulated
		}
		if err := c.Release(); err != nil {
			return st, err
		}
	}
}

// check verifies frame f, which must be frame number want or a later one.
func check(f []byte, want uint64) error {
	if len(f) < frameHeader {
		return fmt.Errorf("frame of %d bytes", len(f))
	}
	n := binary.LittleEndian.Uint64(f)
	pixels := f[frameHeader:]
	switch {
	case n < want:
		return fmt.Errorf("frame %d after frame %d", n, want-1)
	case int(binary.LittleEndian.Uint32(f[20:])) != len(pixels):
		return fmt.Errorf("frame %d: %d bytes of pixels, header says %d", n, len(pixels), binary.LittleEndian.Uint32(f[20:]))
	case crc32.Checksum(pixels, castagnoli) != binary.LittleEndian.Uint32(f[16:]):
		return fmt.Errorf("frame %d: bad CRC-32C", n)
	}
	return nil
}

// report prints throughput and latency. The latency of a frame is the
// time from its rendering to its check, queueing in the ring included: with
// a full ring and policy block, that is the time to consume the frames
// ahead of it.
func (st stats) report(log *slog.Logger, drops uint64, pixels int) {
	log.Info(fmt.Sprintf("received %d frames, every one checked (number and CRC-32C); %d dropped", st.frames, drops))
	if st.frames < 2 {
		return
	}
	secs := st.elapsed.Seconds()
	slices.Sort(st.latencies)
	p := func(q float64) time.Duration { return st.latencies[int(q*float64(len(st.latencies)-1))] }
	log.Info(fmt.Sprintf("%.0f frames/s, %.2f GB/s; latency p50 %v, p99 %v",
		float64(st.frames-1)/secs, float64((st.frames-1)*pixels)/secs/1e9,
		p(0.50).Round(time.Microsecond), p(0.99).Round(time.Microsecond)))
}
