package mp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// brk10FillPipe writes into the pipe behind rd until it is full, and
// returns a function that empties it again (the bytes are not frames:
// the test reads none of them).
func brk10FillPipe(t *testing.T, c *backConn, rd *frameReader) (drain func()) {
	rc, err := c.out.f.SyscallConn()
	require.NoError(t, err)
	junk := make([]byte, 4096)
	total := 0
	rc.Control(func(fd uintptr) {
		for {
			n, err := unix.Write(int(fd), junk)
			if err != nil {
				return // EAGAIN: full
			}
			total += n
		}
	})
	require.Positive(t, total)
	return func() {
		buf := make([]byte, total)
		for got := 0; got < total; {
			n, err := rd.r.Read(buf[got:])
			require.NoError(t, err)
			got += n
		}
	}
}

// Fault: Send spends a credit (credits.take) before its frame is written,
// and keeps it spent when nothing goes out: a parameter that cannot be
// encoded (ErrParam), or a ctx that has ended while the pipe is full (take
// now takes a free turn without looking at ctx, so a Send with an ended
// ctx spends its credit every time, then fails at the write). The frontend
// gives a credit back per message it delivers, so such a credit is lost
// for good; once the window is spent so, every later Send waits for
// credits that never come (here with two credits: two failed Sends, then
// a good one). Fails without credits.refund in backConn.send (checked).
func TestFailedSendsDoNotSpendTheWindow(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(t *testing.T, c *backConn, rd *frameReader) error
	}{
		{"unencodable parameter", func(t *testing.T, c *backConn, rd *frameReader) error {
			return c.send(context.Background(), &frame{kind: kindMessage, command: "bad", params: Params{"x": struct{}{}}})
		}},
		{"ctx ended, pipe full", func(t *testing.T, c *backConn, rd *frameReader) error {
			drain := brk10FillPipe(t, c, rd)
			defer drain()
			ended, cancel := context.WithCancel(context.Background())
			cancel()
			return c.send(ended, &frame{kind: kindMessage, command: "late"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rd, _ := brk10Sender(t, 2)
			for range 2 {
				require.Error(t, tc.fail(t, c, rd))
			}
			// A bound on failure: with the credits lost, this Send waits
			// for credits that never come.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			assert.NoError(t, c.send(ctx, &frame{kind: kindMessage, command: "good"}), "a Send after two failed ones, with a window of two")
		})
	}
}
