package mp

import (
	"os"
	"time"
)

// Pause sleeps for d, to let a chapter's story breathe. When the environment
// variable MP_FAST is set to anything but "" or "0", Pause returns at once:
// the tests set it, and so can an impatient reader. Pause is only for
// storytelling; it never stands in for synchronization.
func Pause(d time.Duration) {
	if Fast() {
		return
	}
	time.Sleep(d)
}

// Fast reports whether MP_FAST asks chapters to skip their narrative pauses.
func Fast() bool {
	v := os.Getenv("MP_FAST")
	return v != "" && v != "0"
}
