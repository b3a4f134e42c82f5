package mp

import (
	"context"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a burst of concurrent starts under a small open-file limit (here
// 256, as a soft limit of 1,024 is for a thousand). Each running process
// holds 6 descriptors in the frontend, and a start in progress up to 13:
// 200 starts at once used to exhaust the limit in transit (37 of 1,000
// started under 1,024), and later, under load, a start that ran out among
// others could still give up for good once they had finished (31 of 48
// started). Starts are bounded inside the library, and a start gives up for
// want of descriptors only when it ran out alone: the burst fills the
// limit, so that one more start fails, and each failure says which limit.
func TestStartBurstUnderDescriptorLimit(t *testing.T) {
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old))
	const limit = 256
	lowered := syscall.Rlimit{Cur: limit, Max: old.Max}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered))
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)

	open := countOpen(t)
	const n = 200
	procs := make([]*Process, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			procs[i], errs[i] = testKind.Start(context.Background(), Options{Name: "burst-" + strconv.Itoa(i)})
		})
	}
	wg.Wait()
	started := 0
	for i, err := range errs {
		if err == nil {
			started++
			continue
		}
		// EMFILE, or EBADF from a child that could not renumber the
		// descriptors it was given above the limit: both say the limit.
		assert.True(t, errorIsAny(err, syscall.EMFILE, syscall.EBADF), "start %d: %v", i, err)
		assert.Contains(t, err.Error(), "RLIMIT_NOFILE", "start %d", i)
	}
	// The burst left no room for one more start: its failures were not
	// for want of descriptors held by other starts for a moment.
	more, err := testKind.Start(context.Background(), Options{Name: "one-more"})
	if assert.Error(t, err, "a start after the burst found room: the burst gave up too early") {
		assert.True(t, isFdLimit(err), "one more start: %v", err)
	} else {
		more.Close()
	}
	for _, p := range procs {
		if p != nil {
			p.Close()
		}
	}
	allows := (limit - open) / 6 // descriptors per running process (see above)
	t.Logf("%d of %d started; the limit allows about %d", started, n, allows)
	assert.GreaterOrEqual(t, started, allows*3/4, "the burst started far fewer than the limit allows")
	requireNoLeftovers(t)
}
