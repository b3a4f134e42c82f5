package shm

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a producer process closes its side and stays alive (a backend
// that is done streaming). Close left its PID in the header, so this
// process's Producer was ErrBusy ("process N has it") for as long as the
// other one lived. Close gives the side up: this process takes it, and the
// consumer, after the first stream's frame and io.EOF, reads the new
// producer's frame.
func TestRingClosedProducerIsFreeForAnotherProcess(t *testing.T) {
	r, err := CreateRingAnon("giveup", RingConfig{SlotSize: 64, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	c, err := r.Consumer()
	require.NoError(t, err)
	h, first := startBrk12Helper(t, r, "producer")
	require.Equal(t, "ready", first)
	require.Equal(t, "produced", h.do("produce a"))
	require.Equal(t, "closed", h.do("close"), "the helper lives on")
	s, err := nextWithin(t, c)
	require.NoError(t, err)
	assert.Equal(t, "a", s)
	_, err = nextWithin(t, c)
	require.ErrorIs(t, err, io.EOF)

	p, err := r.Producer()
	require.NoError(t, err, "the side the live helper closed is free")
	assert.Equal(t, uint64(os.Getpid()), r.words.prodPID.Load())
	write(t, p, "b")
	s, err = nextWithin(t, c)
	require.NoError(t, err, "the new producer's frame")
	assert.Equal(t, "b", s)
}

// Fault: as above for a consumer process that closes and lives on: the
// producer's Reserve failed with io.ErrClosedPipe, and no consumer could
// take the side again. Once it is taken, the producer writes again and the
// new consumer reads from where the first one stopped.
func TestRingClosedConsumerIsFreeForAnotherProcess(t *testing.T) {
	r, err := CreateRingAnon("giveup", RingConfig{SlotSize: 64, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	write(t, p, "a")
	write(t, p, "b")
	h, first := startBrk12Helper(t, r, "consumer")
	require.Equal(t, "ready", first)
	require.Equal(t, "a", h.do("next"))
	require.Equal(t, "closed", h.do("close"), "the helper lives on")
	_, err = p.Write([]byte("lost"))
	require.ErrorIs(t, err, io.ErrClosedPipe, "nobody reads")

	c, err := r.Consumer()
	require.NoError(t, err, "the side the live helper closed is free")
	write(t, p, "c")
	for _, want := range []string{"b", "c"} {
		s, err := nextWithin(t, c)
		require.NoError(t, err)
		assert.Equal(t, want, s)
	}
}

// Fault: a program closes its producer and later takes the side again
// through the same Ring (a stream restarted by one process). Producer was
// ErrBusy ("taken in this process already") for the Ring's whole life, and
// through another Ring on the segment ("this process has it"). Both now
// take it, each after the previous one closed, and the consumer reads
// every stream up to its io.EOF.
func TestRingProducerTakenAgainInThisProcess(t *testing.T) {
	r, err := CreateRingAnon("again", RingConfig{SlotSize: 64, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	files, err := r.Files()
	require.NoError(t, err)
	other, err := OpenRing(files...)
	require.NoError(t, err)
	defer other.Close()
	c, err := r.Consumer()
	require.NoError(t, err)
	for i, ring := range []*Ring{r, r, other, r} {
		p, err := ring.Producer()
		require.NoError(t, err, "take %d", i)
		write(t, p, string(rune('a'+i)))
		require.NoError(t, p.Close())
		s, err := nextWithin(t, c)
		require.NoError(t, err, "take %d", i)
		assert.Equal(t, string(rune('a'+i)), s)
		_, err = nextWithin(t, c)
		require.ErrorIs(t, err, io.EOF, "take %d", i)
	}
	assert.Zero(t, r.words.prodPID.Load(), "nobody holds the side")
}

// Fault: the same process takes the producer again, and both its streams
// end with a slot reserved when Close comes, so that the side is still
// held (with this process's PID and start time) when the consumer looks.
// The consumer, at the io.EOF of the first stream, told the end of the
// first producer from a new one by the PID and start time in the header,
// which the same process writes again: it stayed at io.EOF and never read
// the second stream's frame. The header counts the takes.
func TestRingConsumerReadsAStreamReopenedByTheSameProcess(t *testing.T) {
	r, p, c := heapRing(t, RingConfig{SlotSize: 64, Slots: 8})
	closeHeld := func(p *Producer) {
		_, err := p.Reserve(context.Background())
		require.NoError(t, err)
		require.NoError(t, p.Close())
		require.Equal(t, uint64(os.Getpid()), r.words.prodPID.Load(), "the reserved slot keeps the side")
	}
	closeHeld(p)
	_, err := nextWithin(t, c)
	require.ErrorIs(t, err, io.EOF, "the first stream, empty")
	require.ErrorIs(t, p.Commit(0), ErrRingClosed, "and gives the side up")

	p, err = r.Producer()
	require.NoError(t, err)
	write(t, p, "b")
	closeHeld(p)
	s, err := nextWithin(t, c)
	require.NoError(t, err, "the second stream's frame")
	assert.Equal(t, "b", s)
	_, err = nextWithin(t, c)
	assert.ErrorIs(t, err, io.EOF)
}

// Fault: Close gives the side up while another goroutine holds a slot of
// it (between Reserve and Commit). A new producer then took the side and
// wrote the very slot that goroutine was still writing. The side stays
// held until that goroutine's Commit, which fails with ErrRingClosed and
// gives it up; the next producer starts with that slot free.
func TestRingCloseBesideAReservedSlotLeavesTheSideToItsCommit(t *testing.T) {
	r, p, c := heapRing(t, RingConfig{SlotSize: 64, Slots: 8})
	buf, err := p.Reserve(context.Background())
	require.NoError(t, err)
	closed := make(chan error)
	go func() { closed <- p.Close() }()
	require.NoError(t, <-closed)
	_, err = r.Producer()
	require.ErrorIs(t, err, ErrBusy, "the slot is still being written")
	assert.Equal(t, uint64(os.Getpid()), r.words.prodPID.Load())

	buf[0] = 'x'
	require.ErrorIs(t, p.Commit(1), ErrRingClosed)
	p2, err := r.Producer()
	require.NoError(t, err, "the Commit gave the side up")
	write(t, p2, "y")
	s, err := nextWithin(t, c)
	require.NoError(t, err)
	assert.Equal(t, "y", s, "the abandoned frame is never read")
}

// Fault: Close gives the consumer's side up while a frame is held (between
// Next and Release). A new consumer started at the held frame, and the old
// one's Release then moved the new one's position. The side stays held
// until the Release, which succeeds, publishes and gives the side up; the
// next consumer starts after that frame.
func TestRingCloseBesideAHeldFrameLeavesTheSideToItsRelease(t *testing.T) {
	r, p, c := heapRing(t, RingConfig{SlotSize: 64, Slots: 1})
	write(t, p, "a")
	f, err := c.Next(context.Background())
	require.NoError(t, err)
	require.Equal(t, "a", string(f))
	closed := make(chan error)
	go func() { closed <- c.Close() }()
	require.NoError(t, <-closed)
	_, err = r.Consumer()
	require.ErrorIs(t, err, ErrBusy, "the frame is still being read")

	require.NoError(t, c.Release())
	c2, err := r.Consumer()
	require.NoError(t, err, "the Release gave the side up")
	write(t, p, "b")
	s, err := nextWithin(t, c2)
	require.NoError(t, err)
	assert.Equal(t, "b", s, "the released frame is not read again")
}

// Fault: Close interrupts a Write waiting on a full ring in another
// goroutine and gives the side up at once, while that wait is still on
// its way out (it then clears the producer's waiting flag and drains the
// eventfd, which a new producer already sleeps on: a lost wake-up). The
// interrupted waiter is held just after its wake-up (afterWake) until
// either Close reaches its wait for the side's slow calls or the side is
// given up: it must be the first.
func TestRingCloseGivesTheSideUpAfterTheInterruptedWait(t *testing.T) {
	r, p, _ := heapRing(t, RingConfig{SlotSize: 8, Slots: 1})
	write(t, p, "full")
	slept := make(chan struct{})
	atLock, gaveUp := make(chan struct{}), make(chan struct{})
	var order string
	sleepHooks(t, func(s *side, _ int) {
		if s == &p.side && slept != nil {
			close(slept)
			slept = nil
		}
	}, func(s *side) {
		if s != &p.side || order != "" {
			return
		}
		select {
		case <-atLock:
			order = "Close waited for the wait"
		case <-gaveUp:
			order = "the side was given up during the wait"
		}
	})
	closeAwaitsSlow = func(s *side) {
		if s == &p.side {
			close(atLock)
		}
	}
	beforeGiveUp = func(s *side) {
		if s == &p.side {
			close(gaveUp)
		}
	}
	t.Cleanup(func() { closeAwaitsSlow, beforeGiveUp = nil, nil })
	sleeping := slept
	done := make(chan error)
	go func() { _, err := p.Write([]byte("more")); done <- err }()
	<-sleeping
	require.NoError(t, p.Close())
	require.ErrorIs(t, <-done, ErrRingClosed)
	assert.Equal(t, "Close waited for the wait", order)
	assert.Zero(t, r.words.prodWaiting.Load())
	_, err := r.Producer()
	assert.NoError(t, err)
}

// A take that read the holder's PID just before the holder's Close cleared
// it: the taker checks the holder (checkHolder) while the helper process,
// which holds the producer, closes it, under the taker's claim on the
// side. Close does not wait for the claim (it only swaps its own PID for
// 0), and the taker, whose check then finds no holder to watch, is told
// the side is busy, as if it had come before the Close; its next take has
// the side, with its own start time and PID.
func TestRingTakeRacingTheHoldersCloseIsBusyThenFree(t *testing.T) {
	r, err := CreateRingAnon("race", RingConfig{SlotSize: 64, Slots: 8})
	require.NoError(t, err)
	defer r.Close()
	h, first := startBrk12Helper(t, r, "producer")
	require.Equal(t, "ready", first)
	var closedMeanwhile string
	checkHolder = func(p *peer) error {
		if closedMeanwhile == "" {
			closedMeanwhile = h.do("close")
		}
		return p.check()
	}
	t.Cleanup(func() { checkHolder = (*peer).check })
	_, err = r.Producer()
	require.Equal(t, "closed", closedMeanwhile, "the holder closed during the check")
	require.ErrorIs(t, err, ErrBusy)
	assert.Zero(t, r.words.prodPID.Load(), "the holder gave the side up")

	_, err = r.Producer()
	require.NoError(t, err)
	st, err := startTime(os.Getpid())
	require.NoError(t, err)
	assert.Equal(t, uint64(os.Getpid()), r.words.prodPID.Load())
	assert.Equal(t, st, r.words.prodStart.Load())
}

// Fault: a consumer that closes gives the side up with releases it had not
// published yet (they go out in batches of an eighth of the ring): the next
// consumer started at the last published position and read the closed
// one's frames again. Giving the side up publishes them.
func TestRingClosedConsumerPublishesItsReleases(t *testing.T) {
	r, p, c := heapRing(t, RingConfig{SlotSize: 64, Slots: 16})
	write(t, p, "a")
	write(t, p, "b")
	s, err := nextWithin(t, c)
	require.NoError(t, err)
	require.Equal(t, "a", s)
	require.Zero(t, r.words.tail.Load(), "a batch of 2: the release is not published yet")
	require.NoError(t, c.Close())
	c2, err := r.Consumer()
	require.NoError(t, err)
	s, err = nextWithin(t, c2)
	require.NoError(t, err)
	assert.Equal(t, "b", s, "the closed consumer's frame is not read again")
}
