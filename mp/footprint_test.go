package mp

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// footprint is what n idle processes cost the frontend, per process.
type footprint struct {
	heap       float64 // bytes of live heap
	threads    float64 // OS threads
	goroutines float64
	fds        float64
	pss        float64 // KiB of proportional set size of one idle backend
}

// measureFootprint starts n idle backends and measures the frontend's
// growth, per process, and one backend's PSS.
func measureFootprint(t testing.TB, n int) footprint {
	heap0, thr0, gor0, fd0 := liveHeap(), threads(t), runtime.NumGoroutine(), countOpen(t)
	procs := make([]*Process, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range procs {
		wg.Go(func() {
			p, err := testKind.Start(context.Background(), Options{Name: "idle-" + strconv.Itoa(i)})
			procs[i] = p
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.Close()
			}
		}
	}()
	for err := range errs {
		require.NoError(t, err)
	}
	for _, p := range procs { // each has run a call, then idles
		_, err := p.Call(context.Background(), "pid", nil)
		require.NoError(t, err)
	}
	f := float64(n)
	return footprint{
		heap:       float64(liveHeap()-heap0) / f,
		threads:    float64(threads(t)-thr0) / f,
		goroutines: float64(runtime.NumGoroutine()-gor0) / f,
		fds:        float64(countOpen(t)-fd0) / f,
		pss:        float64(pssKiB(procs[0].Pid())),
	}
}

func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func threads(t testing.TB) int {
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

func countOpen(t testing.TB) int {
	d, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(d)
}

// pssKiB reads the Pss line of /proc/<pid>/smaps_rollup.
func pssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("Pss:")); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(string(v), "kB")))
			return n
		}
	}
	return 0
}

// The frontend's cost of an idle process, at 200 processes: at most 24 KB
// of heap (8 KB of it the Messages channel's buffer of 256, which buys the
// manager's fan-in twice the rate of a buffer of 64), no OS thread held
// (the child is reaped when its pipe ends, not waited for by a blocked
// thread), one goroutine (the reader: the deliverer runs only while
// messages wait for room), six descriptors (three pipe ends, the message
// pipe's epoll instance, the credits' eventfd and the pidfd os/exec
// keeps). It used to be 78 KB and one thread each.
func TestFrontendFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 200 processes")
	}
	f := measureFootprint(t, 200)
	t.Logf("per idle process: %.0f B heap, %.2f threads, %.2f goroutines, %.2f descriptors; backend PSS %.0f KiB",
		f.heap, f.threads, f.goroutines, f.fds, f.pss)
	assert.LessOrEqual(t, f.heap, 24e3, "heap per process")
	assert.Less(t, f.threads, 0.1, "threads per process")
	assert.InDelta(t, 1, f.goroutines, 0.1, "goroutines per process")
	assert.LessOrEqual(t, f.fds, 6.1, "descriptors per process")
	requireNoLeftovers(t)
}

// BenchmarkIdleProcesses reports what 200 idle processes cost, per process.
func BenchmarkIdleProcesses(b *testing.B) {
	for b.Loop() {
		f := measureFootprint(b, 200)
		b.ReportMetric(f.heap, "heap-B/proc")
		b.ReportMetric(f.threads, "threads/proc")
		b.ReportMetric(f.goroutines, "goroutines/proc")
		b.ReportMetric(f.fds, "fds/proc")
		b.ReportMetric(f.pss, "backend-PSS-KiB")
	}
}
