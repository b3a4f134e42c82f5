package manager_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
)

// Rule: under an everyday mixed workload (1000 small tasks on 8 workers:
// every 100th crashes its worker, every 50th recycles it, every 200th runs
// past its timeout), every task ends exactly once, with the error its kind
// calls for and no other; the manager keeps running; and once Run has
// returned, no process and no goroutine of the manager is left.
func TestMixedWorkloadEndsEveryTaskOnce(t *testing.T) {
	cfg, _ := config(8)
	cfg.MaxRestarts = 100
	m, err := manager.New(cfg)
	require.NoError(t, err)
	const n = 1000
	var ends [n]atomic.Int32
	errs := make([]error, n)
	var all sync.WaitGroup
	all.Add(n)
	for i := range n {
		j := job{}
		switch {
		case i%100 == 7:
			j.Panic = true
		case i%50 == 3:
			j.Quit = true
		case i%200 == 11:
			j.Sleep = time.Hour // listens to its ctx: the timeout's SIGTERM ends it
		}
		require.NoError(t, m.Submit(runJob(fmt.Sprintf("t%d", i), j, time.Second, func(r result) {
			if ends[i].Add(1) == 1 {
				errs[i] = r.err
				all.Done()
			}
		})))
	}
	cancel, wait := runManager(t, m)
	done := make(chan struct{})
	go func() { all.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("not every task ended within 30 s")
	}
	for i, err := range errs {
		switch {
		case i%100 == 7:
			assert.ErrorIs(t, err, manager.ErrWorkerDied, "t%d", i)
			assert.ErrorIs(t, err, mp.ErrHandlerPanic, "t%d", i)
		case i%200 == 11:
			assert.ErrorIs(t, err, manager.ErrTaskTimeout, "t%d", i)
		default:
			assert.NoError(t, err, "t%d", i)
		}
	}
	cancel()
	require.NoError(t, wait())
	for i := range ends {
		assert.Equal(t, int32(1), ends[i].Load(), "t%d ended %d times", i, ends[i].Load())
	}
	// The last Do goroutines and timers end just after Run returns: a
	// bounded poll, as nothing reports a goroutine's end.
	left := proctest.GoroutinesIn("mp/manager.")
	for deadline := time.Now().Add(2 * time.Second); left > 0 && time.Now().Before(deadline); left = proctest.GoroutinesIn("mp/manager.") {
		time.Sleep(10 * time.Millisecond)
	}
	assert.Zero(t, left, "goroutines of the manager left after Run returned")
}

// Rule: tasks submitted from several goroutines while the manager stops
// end exactly once each if Submit accepted them (done, or failed with
// mp.ErrStopped), and never if it refused them.
func TestSubmitDuringTheStopEndsEachAcceptedTaskOnce(t *testing.T) {
	cfg, _ := config(4)
	m, err := manager.New(cfg)
	require.NoError(t, err)
	const per = 500
	var ends [4 * per]atomic.Int32
	var accepted [4 * per]bool
	cancel, wait := runManager(t, m)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				k := g*per + i
				task := runJob(fmt.Sprintf("t%d", k), job{}, time.Second, func(r result) {
					ends[k].Add(1)
					if r.err != nil {
						assert.ErrorIs(t, r.err, mp.ErrStopped, "t%d", k)
					}
				})
				err := m.Submit(task)
				accepted[k] = err == nil
				if err != nil {
					assert.ErrorIs(t, err, mp.ErrStopped, "t%d", k)
				}
				if i == per/2 && g == 0 {
					cancel()
					wait() // so that this goroutine's next tasks are refused
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, wait())
	refused := 0
	for k := range ends {
		want := int32(1)
		if !accepted[k] {
			want = 0
			refused++
		}
		assert.Equal(t, want, ends[k].Load(), "t%d (accepted: %v)", k, accepted[k])
	}
	assert.NotZero(t, refused, "the stop came after every Submit")
}
