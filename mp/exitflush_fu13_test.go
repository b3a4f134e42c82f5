package mp

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// "sendrecorded" sends numbered messages ("n") from a goroutine of its own,
// as fast as it can, until Send fails, and writes after each Send that
// returned nil how many did so far to Options.Files[0] (at offset 0); with
// "end" "deaf", in pairs 30 µs apart. Once
// 200 have gone, it ends the backend: with "end" "stop", Backend.Stop, and
// the handler returns; with "deaf", the handler stays deaf to SIGTERM, and
// the backend exits at the end of its grace.
func init() {
	testKind.Handle("sendrecorded", func(b *testBackend, ctx context.Context, m Message) error {
		sent := make(chan struct{})
		end, _ := m.Params.String("end")
		go func() {
			var rec [8]byte
			for i := 0; ; i++ {
				if b.Send(context.Background(), "n", Params{"i": i}) != nil {
					return
				}
				binary.LittleEndian.PutUint64(rec[:], uint64(i+1))
				b.File(0).WriteAt(rec[:], 0)
				if i == 199 {
					close(sent)
				}
				if end == "deaf" && i%2 == 1 {
					// Pairs of messages 30 µs apart: the second of
					// each waits to be gathered most of the time,
					// as the frontend keeps up.
					for t := time.Now(); time.Since(t) < 30*time.Microsecond; {
					}
				}
			}
		}()
		<-sent
		if end == "deaf" {
			select {}
		}
		b.Stop()
		return nil
	})
}

// Fault: a message Backend.Send had returned nil for could be lost when the
// backend exited through the library: messages sent in a burst wait up to
// gatherWindow to go out together (gather.go), and the backend wrote them
// at its exit, but a goroutine still sending gathered more after that, and
// the exit at the end of the grace after SIGTERM wrote none. Every message
// whose Send returned nil must reach the frontend, whether the backend ends
// itself (Backend.Stop, its loop's end, PostRun) while a goroutine sends,
// or exits at the end of its grace: the exit writes what was gathered and
// a Send after that waits for the exit instead of returning nil.
func TestExitLosesNoMessageSendReturnedNilFor(t *testing.T) {
	for _, c := range []struct {
		end    string
		rounds int
	}{{"stop", 60}, {"deaf", 4}} {
		for round := range c.rounds {
			t.Run(fmt.Sprintf("%s-%d", c.end, round), func(t *testing.T) {
				rec, err := os.OpenFile(filepath.Join(t.TempDir(), "sent"), os.O_RDWR|os.O_CREATE, 0o600)
				require.NoError(t, err)
				defer rec.Close()
				p := startTest(t, Options{Files: []*os.File{rec}, StopTimeout: 10 * time.Millisecond})
				require.NoError(t, p.Send(context.Background(), "sendrecorded", Params{"end": c.end}))
				got := 0
				for msg := range p.Messages() {
					i, err := msg.Params.Int("i")
					require.NoError(t, err)
					require.Equal(t, got, i, "messages in order")
					got++
					if got == 200 && c.end == "deaf" {
						require.NoError(t, p.Signal(syscall.SIGTERM))
					}
				}
				var b [8]byte
				_, err = rec.ReadAt(b[:], 0)
				require.NoError(t, err)
				sent := int(binary.LittleEndian.Uint64(b[:]))
				t.Logf("%d sent, %d received", sent, got)
				require.GreaterOrEqual(t, sent, 200)
				assert.GreaterOrEqual(t, got, sent, "messages whose Send returned nil were lost at the exit (%s)", p.DescribeExit())
			})
		}
	}
}
