package mp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The loop's end (interrupt) and the frontend's close (closeSend, whose
// word closes the nudge's write end) race, both while the read waits in
// read(2) and just before it gets there: however they fall, the read
// returns, with the pipe's end or the interrupt, never a parsed nudge.
func TestInterruptRacingTheFrontendsClose(t *testing.T) {
	for i := range 100 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e := newConnEnds(t, 1, true)
			errc := readInBackground(e)
			if i%2 == 0 {
				requireInPlainRead(t)
			}
			var wg sync.WaitGroup
			wg.Go(e.front.closeSend)
			wg.Go(e.back.interrupt)
			wg.Wait()
			select {
			case err := <-errc:
				if !errors.Is(err, io.EOF) {
					assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the read did not return")
			}
		})
	}
}
