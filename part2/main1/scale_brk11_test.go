package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAskBurstsStopsAtTheFirstFailure: -scale's bursts stop being asked
// for at the first Send that fails, which stops the run; none is asked for
// once the run's ctx has ended (Ctrl-C as the last worker became ready).
// The fault it checks: the loop went on after stop(), and since a Send
// with an ended ctx fails without sending (7959cc7), every worker left
// logged "context canceled", a thousand lines with -scale 1000.
func TestAskBurstsStopsAtTheFirstFailure(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var asked []int
	send := func(ctx context.Context, w int) error {
		asked = append(asked, w)
		if err := ctx.Err(); err != nil {
			return err // as mp's Send with an ended ctx
		}
		if w == 2 {
			return errors.New("worker 2 is gone")
		}
		return nil
	}
	askBursts(ctx, []int{1, 2, 3, 4, 5}, send, log, cancel)
	assert.Equal(t, []int{1, 2}, asked)
	assert.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"), "%s", logs.String())
	assert.Contains(t, logs.String(), "worker 2 is gone")

	logs.Reset()
	asked = nil
	askBursts(ctx, []int{1, 2, 3}, send, log, cancel) // ctx has ended
	assert.Empty(t, asked)
	assert.Empty(t, logs.String())
}
