package shm

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The ring between two processes: the test and a helper (see
// runRingHelper).

func TestRingCrossProcessStress(t *testing.T) {
	// A helper process produces 20,000 frames of random length (a number
	// and a CRC-32C each) through 8 slots; this process checks every one,
	// in order, then gets io.EOF. Both directions of wake-up are used: the
	// ring fills and empties many times.
	useShmPrefix(t)
	r, err := CreateRing("stress", RingConfig{SlotSize: 4096, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	c, err := r.Consumer()
	require.NoError(t, err)
	const frames = 20000
	h := startRingHelper(t, r, "ringproduce", frames)
	for i := range frames {
		f, err := c.Next(context.Background())
		require.NoError(t, err)
		require.NoError(t, checkTestFrame(f, uint64(i)))
		require.NoError(t, c.Release())
	}
	_, err = c.Next(context.Background())
	assert.Equal(t, io.EOF, err)
	assert.Empty(t, h.line(), "the helper's output")
	assert.NoError(t, h.cmd.Wait())
}

func TestRingCrossProcessConsumer(t *testing.T) {
	// The other way round, over an anonymous ring: this process produces,
	// a helper consumes and checks.
	r, err := CreateRingAnon("stress", RingConfig{SlotSize: 512, Slots: 4})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	h := startRingHelper(t, r, "ringconsume", 0)
	rnd := newTestRand()
	for i := range 5000 {
		_, err := p.Write(testFrame(rnd, uint64(i), 512))
		require.NoError(t, err)
	}
	require.NoError(t, p.Close())
	assert.Equal(t, "consumed 5000", h.line())
	assert.NoError(t, h.cmd.Wait())
}

func TestRingProducerKilledMidWrite(t *testing.T) {
	// Fault: the producer process is killed with SIGKILL while it writes a
	// frame (reserved, half written, not committed). The consumer reads
	// the 3 frames committed before, never the torn one, and then gets an
	// error wrapping ErrPeerDied within one second, not a hang nor EOF.
	r, err := CreateRingAnon("killed", RingConfig{SlotSize: 1024, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	c, err := r.Consumer()
	require.NoError(t, err)
	h := startRingHelper(t, r, "ringproducekill", 3)
	for i := range 3 {
		f, err := c.Next(context.Background())
		require.NoError(t, err)
		require.NoError(t, checkTestFrame(f, uint64(i)))
		require.NoError(t, c.Release())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	h.stdin.Write([]byte("die\n"))
	f, err := c.Next(ctx)
	assert.Nil(t, f, "no torn frame")
	require.ErrorIs(t, err, ErrPeerDied)
	assert.Less(t, time.Since(start), time.Second)
	t.Log(err)
}

func TestRingConsumerKilled(t *testing.T) {
	// Fault: the consumer process is killed with SIGKILL while this
	// process's producer waits on a full ring: the Write fails with an
	// error wrapping ErrPeerDied within one second.
	r, err := CreateRingAnon("killed", RingConfig{SlotSize: 64, Slots: 2})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	h := startRingHelper(t, r, "ringconsumekill", 0)
	for range 2 {
		_, err := p.Write([]byte("fill"))
		require.NoError(t, err)
	}
	start := time.Now()
	h.stdin.Write([]byte("die\n"))
	_, err = p.Write([]byte("blocked"))
	require.ErrorIs(t, err, ErrPeerDied)
	assert.Less(t, time.Since(start), time.Second)
	t.Log(err)
}

func TestRingPeerDeadBeforeWait(t *testing.T) {
	// Fault: the producer process died before the consumer waits (it was
	// already reaped): Next finds it dead at once.
	r, err := CreateRingAnon("dead", RingConfig{SlotSize: 64, Slots: 2})
	require.NoError(t, err)
	defer r.Close()
	c, err := r.Consumer()
	require.NoError(t, err)
	h := startRingHelper(t, r, "ringproducekill", 0)
	h.stdin.Write([]byte("die\n"))
	h.cmd.Wait()
	_, err = c.Next(context.Background())
	require.ErrorIs(t, err, ErrPeerDied)
}

func TestRingIdleUsesNoCPU(t *testing.T) {
	// A consumer waiting on an idle ring sleeps in poll(2): 1 ms after the
	// last frame, it uses no CPU. Measured over 100 ms of this process's
	// CPU time (the only other thing running is the Go runtime).
	_, p, c := heapRing(t, RingConfig{SlotSize: 8, Slots: 2})
	write(t, p, "last")
	assert.Equal(t, "last", read(t, c))
	done := make(chan error)
	go func() { _, err := c.Next(context.Background()); done <- err }()
	// Not a synchronization: the consumer spins for a set time (1 ms)
	// before it sleeps in poll(2), and the measurement starts after it.
	time.Sleep(2 * time.Millisecond)
	before := cpuTime(t)
	time.Sleep(100 * time.Millisecond) // the measurement's period
	used := cpuTime(t) - before
	assert.Less(t, used, 5*time.Millisecond, "CPU used in 100 ms by an idle ring")
	require.NoError(t, p.Close())
	assert.Equal(t, io.EOF, <-done)
}

func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	require.NoError(t, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestRingBadHeader(t *testing.T) {
	// Bad input: OpenRing on segments that are not rings of this layout.
	// Each is ErrNotRing, before anything is mapped.
	good, err := newLayout(RingConfig{SlotSize: 64, Slots: 4})
	require.NoError(t, err)
	hdr := func(edit func(h []byte)) []byte {
		h := good.encode()
		edit(h)
		return h
	}
	for name, tc := range map[string]struct {
		header []byte
		size   int
	}{
		"empty":          {nil, 0},
		"tiny":           {[]byte("mp-ring\x00"), 100},
		"cut header":     {good.encode()[:40], 40},
		"no magic":       {hdr(func(h []byte) { h[0] = 'x' }), good.size},
		"array":          {[]byte(magic), good.size},
		"version 1":      {hdr(func(h []byte) { h[offVersion] = 1 }), good.size},
		"version 2":      {hdr(func(h []byte) { h[offVersion] = 2 }), good.size},
		"even step":      {hdr(func(h []byte) { h[offSlotStep] = 2 }), good.size},
		"step too large": {hdr(func(h []byte) { h[offSlotStep] = 5 }), good.size},
		"cut step":       {good.encode()[:offSlotStep], good.size},
		"huge step":      {hdr(func(h []byte) { binary.LittleEndian.PutUint64(h[offSlotStep:], 1<<50+1) }), good.size},
		"3 slots":        {hdr(func(h []byte) { h[offSlots] = 3 }), good.size},
		"zero size":      {hdr(func(h []byte) { binary.LittleEndian.PutUint64(h[offSlotSize:], 0) }), good.size},
		"huge size":      {hdr(func(h []byte) { binary.LittleEndian.PutUint64(h[offSlotSize:], 1<<63) }), good.size},
		"bad policy":     {hdr(func(h []byte) { h[offPolicy] = 9 }), good.size},
		"bad stride":     {hdr(func(h []byte) { h[offStride] = 8 }), good.size},
		"bad data":       {hdr(func(h []byte) { h[offData+1] = 0 }), good.size},
		"short segment":  {good.encode(), good.size - 64},
		"long segment":   {good.encode(), good.size + 4096},
	} {
		t.Run(name, func(t *testing.T) {
			fd, err := unix.MemfdCreate("bad", unix.MFD_CLOEXEC)
			require.NoError(t, err)
			seg := os.NewFile(uintptr(fd), "bad")
			defer seg.Close()
			require.NoError(t, unix.Ftruncate(fd, int64(tc.size)))
			if tc.header != nil {
				_, err = unix.Pwrite(fd, tc.header, 0)
				require.NoError(t, err)
			}
			ev1, ev2 := eventFile(t), eventFile(t)
			_, err = OpenRing(seg, ev1, ev2)
			assert.ErrorIs(t, err, ErrNotRing)
		})
	}
	_, err = OpenRing()
	assert.ErrorIs(t, err, os.ErrInvalid)
}

func eventFile(t *testing.T) *os.File {
	fd, err := newEventFD()
	require.NoError(t, err)
	f := os.NewFile(uintptr(fd), "event")
	t.Cleanup(func() { f.Close() })
	return f
}

func TestRingConsumerTakeover(t *testing.T) {
	// Fault: under DropOldest, a consumer process dies (SIGKILL) while it
	// reads a frame. A new consumer takes the side over: it reads that
	// frame again, and the ones after; the producer drops old frames again
	// once the mark of the dead reader is gone.
	r, err := CreateRingAnon("takeover", RingConfig{SlotSize: 64, Slots: 2, Policy: DropOldest})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	for _, f := range []string{"a", "b"} {
		_, err := p.Write([]byte(f))
		require.NoError(t, err)
	}
	h := startRingHelper(t, r, "ringholdkill", 0)
	h.stdin.Write([]byte("die\n"))
	h.cmd.Wait()
	c, err := r.Consumer()
	require.NoError(t, err, "the dead consumer's side is free")
	b := make([]byte, 64)
	for _, want := range []string{"a", "b"} {
		n, err := c.Read(b)
		require.NoError(t, err)
		assert.Equal(t, want, string(b[:n]))
	}
	for _, f := range []string{"c", "d", "e"} {
		_, err := p.Write([]byte(f))
		require.NoError(t, err)
	}
	assert.Equal(t, uint64(1), c.Drops(), "c dropped for e")
	n, err := c.Read(b)
	require.NoError(t, err)
	assert.Equal(t, "d", string(b[:n]))
}
