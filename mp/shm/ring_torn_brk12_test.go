package shm

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nextWithin reads one frame with a bounded wait (a hang is a failure,
// not a stuck test run) and releases it.
func nextWithin(t *testing.T, c *Consumer) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := c.Next(ctx)
	if err != nil {
		return "", err
	}
	s := string(f)
	require.NoError(t, c.Release())
	return s, nil
}

// Fault: a producer process is SIGKILLed between the two stores of Commit:
// the frame's sequence number is stored (the frame is committed, and the
// consumer may read it) but head, which a producer taking over starts
// from, is not. The new producer started one frame early: if the consumer
// had read the torn frame, Producer failed with ErrCorrupt (tail above
// head) and the ring could not be taken over; if not, the new producer
// overwrote the committed frame (lost), and the consumer then waited for a
// frame at a position nobody would write. The new producer goes on after
// every frame whose sequence number says it is committed.
func TestRingProducerTakeoverAfterTornCommit(t *testing.T) {
	for _, readFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("consumer read the torn frame first %v", readFirst), func(t *testing.T) {
			r, err := CreateRingAnon("torn", RingConfig{SlotSize: 64, Slots: 8})
			require.NoError(t, err)
			defer r.Close()
			c, err := r.Consumer()
			require.NoError(t, err)
			h, first := startBrk12Helper(t, r, "producer")
			require.Equal(t, "ready", first)
			require.Equal(t, "produced", h.do("produce f0"))
			require.Equal(t, "produced", h.do("produce f1"))
			h.tear("f2")
			var got []string
			if readFirst {
				for range 3 {
					s, err := nextWithin(t, c)
					require.NoError(t, err)
					got = append(got, s)
				}
				_, err := nextWithin(t, c)
				require.ErrorIs(t, err, ErrPeerDied)
			}
			p, err := r.Producer()
			require.NoError(t, err, "the dead producer's side can be taken over")
			write(t, p, "f3")
			require.NoError(t, p.Close())
			for {
				s, err := nextWithin(t, c)
				if err != nil {
					require.ErrorIs(t, err, io.EOF)
					break
				}
				got = append(got, s)
			}
			assert.Equal(t, []string{"f0", "f1", "f2", "f3"}, got, "every committed frame once, in order")
		})
	}
}
