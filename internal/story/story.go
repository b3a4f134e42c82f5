// Package story holds what only the tutorial's chapters need: narrative
// pauses that a test can skip, and the exit status of a chapter. It is not
// part of the library.
package story

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/mpgo/mp/internal/env"
)

// Fast reports whether MP_FAST (a boolean: 1, true, 0, false) asks chapters
// to skip their narrative pauses. The tests set it.
func Fast() bool {
	fast, _ := env.Bool("MP_FAST", false)
	return fast
}

// Pause sleeps for d, to let a chapter's story breathe, unless Fast. It
// returns early, with ctx's cause, when ctx ends (Ctrl-C). Pause never
// stands in for synchronization.
func Pause(ctx context.Context, d time.Duration) error {
	if Fast() {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Exit statuses of a chapter.
const (
	StatusOK          = 0
	StatusFailed      = 1
	StatusInterrupted = 128 + int(syscall.SIGINT)  // 130: stopped by Ctrl-C, cleaned up
	StatusTerminated  = 128 + int(syscall.SIGTERM) // 143: stopped by SIGTERM, cleaned up
)

// Status logs how a chapter ended and returns its exit status: StatusOK when
// err is nil; StatusInterrupted or StatusTerminated when ctx (from
// signal.NotifyContext) was cancelled by SIGINT or SIGTERM, whatever err
// that caused; StatusOK again, silently, when ctx (from UntilStdoutCloses)
// ended because nobody reads standard output any more; StatusFailed
// otherwise. Shells report 128 + the signal number for a program killed by
// a signal; a chapter that handled the signal and cleaned up says the same.
func Status(ctx context.Context, log *slog.Logger, err error) int {
	switch {
	case errors.Is(context.Cause(ctx), ErrStdoutClosed):
		return StatusOK // nobody reads any more: the story ends quietly
	case ctx.Err() != nil:
		cause := context.Cause(ctx)
		log.Info(fmt.Sprintf("stopped: %v; everything is cleaned up", cause))
		if strings.HasPrefix(cause.Error(), syscall.SIGTERM.String()+" ") {
			return StatusTerminated
		}
		return StatusInterrupted
	case err != nil:
		log.Error(err.Error())
		return StatusFailed
	}
	return StatusOK
}

// Exit ends the chapter with Status's exit status.
func Exit(ctx context.Context, log *slog.Logger, err error) {
	os.Exit(Status(ctx, log, err))
}

// Count says n of a thing, in English: "1 tick", "0 ticks", "3 ticks".
// thing is the singular; its plural adds an s.
func Count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
