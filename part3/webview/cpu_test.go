package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var pageCPU = flag.Bool("page-cpu", false, "run TestPageCPUCost (1,000 workers, about two minutes; see docs/benchmarks.md)")

// pageVar, in the environment of a copy of the test binary, makes it the
// page of TestPageCPUCost: it reads the event stream at that address.
const pageVar = "WEBVIEW_TEST_PAGE"

// TestPageCPUCost measures what one open page costs the frontend (this
// process: the manager, its loop, the HTTP server; the workers are other
// processes, and so is the page, as a browser would be). 1,000 workers
// run tasks that take no time, so that their states change as fast as
// the manager can hand tasks out; after a warm-up run, the same run is
// made three times without a page and three times with one, alternating.
//
// Why this stands in for "as fast as main1 -scale drives them": what a
// page adds is one stream's work per event, which grows with the cells an
// event carries, at most every worker, at most -fps events a second. Here
// each worker runs some 14 tasks a second, so most events carry most cells
// (80-90 %): the test checks it, and checks the rate. main1
// -scale changes each worker's state about three times in its whole run
// (started, stopping, exited; its burst of messages changes no state), so
// its events carry fewer cells, or do not happen: a page costs it less.
// Not in the suite:
//
//	go test -run TestPageCPUCost -v ./part3/webview -args -page-cpu
func TestPageCPUCost(t *testing.T) {
	if !*pageCPU {
		t.Skip("a measurement: run it with -args -page-cpu")
	}
	const workers, tasks = 1000, 100000
	addr, _ := server(t, []string{"-workers", strconv.Itoa(workers), "-task-ms", "0"}, nil)
	base := "http://" + addr
	target := 0
	measure := func(withPage bool) (wall, cpu time.Duration, page pageSeen) {
		var stop func() pageSeen
		if withPage {
			stop = openPage(t, base+"/events")
		}
		target += tasks
		start, cpu0 := time.Now(), cpuTime(t)
		for range tasks / maxSubmit {
			r, err := http.PostForm(base+"/submit", map[string][]string{"n": {strconv.Itoa(maxSubmit)}})
			require.NoError(t, err)
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			require.Equal(t, http.StatusOK, r.StatusCode)
		}
		for succeeded(t, base) < target {
			time.Sleep(100 * time.Millisecond) // a measurement's poll, the same in every run
		}
		wall, cpu = time.Since(start), cpuTime(t)-cpu0
		if stop != nil {
			page = stop()
		}
		return wall, cpu, page
	}
	wall, cpu, _ := measure(false)
	t.Logf("warm-up: %d tasks in %v, frontend CPU %v", tasks, wall.Round(time.Millisecond), cpu.Round(time.Millisecond))
	var sum float64
	for round := 1; round <= 3; round++ {
		w0, c0, _ := measure(false)
		w1, c1, p := measure(true)
		// The same work with and without the page: the difference in CPU
		// time, over the runs' mean duration, is the page's share of a
		// core. (Each run's cores, CPU over its own duration, are shown
		// too; on a shared machine the durations vary more than the CPU.)
		diff := 100 * (c1 - c0).Seconds() / ((w0 + w1).Seconds() / 2)
		sum += diff
		t.Logf("round %d: without a page %v CPU in %v (%.3f cores); with one %v in %v (%.3f cores): %+.1f %% of a core; "+
			"the page got %d events (%.1f/s), %.0f cells each",
			round, c0.Round(time.Millisecond), w0.Round(time.Millisecond), c0.Seconds()/w0.Seconds(), c1.Round(time.Millisecond),
			w1.Round(time.Millisecond), c1.Seconds()/w1.Seconds(), diff, p.events, float64(p.events)/w1.Seconds(), float64(p.cells)/float64(p.events))
		// The page saw (close to) the worst case: at most -fps events a
		// second (10; its first event aside), at least half that many, each
		// carrying most cells.
		assert.LessOrEqual(t, float64(p.events), w1.Seconds()*10+2, "more than 10 events a second")
		assert.GreaterOrEqual(t, float64(p.events), w1.Seconds()*10/2, "the page got too few events for a worst case")
		assert.Greater(t, float64(p.cells)/float64(p.events), 0.6*workers, "events did not carry most cells")
	}
	t.Logf("mean: %+.1f %% of a core", sum/3)
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// succeeded reads mp_tasks_succeeded_total from /metrics.
func succeeded(t *testing.T, base string) int {
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "mp_tasks_succeeded_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return int(n)
		}
	}
	t.Fatal("no mp_tasks_succeeded_total")
	return 0
}

// pageSeen is what the page counted: events, and cells in them.
type pageSeen struct{ events, cells int }

// openPage starts the page, a copy of this test binary that reads the
// event stream at url (see runPage), once it has its first event. The
// returned stop closes its stdin and returns what it counted.
func openPage(t *testing.T, url string) (stop func() pageSeen) {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), pageVar+"="+url)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	r := bufio.NewReader(out)
	first, err := r.ReadString('\n')
	require.NoError(t, err, "the page did not start")
	require.Equal(t, "connected\n", first)
	return func() pageSeen {
		in.Close()
		var p pageSeen
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		_, err = fmt.Sscanf(line, "%d %d", &p.events, &p.cells)
		require.NoError(t, err, "the page said %q", line)
		require.NoError(t, cmd.Wait())
		return p
	}
}

// runPage is the page of TestPageCPUCost, in its own process: it reads
// the event stream at url, decodes each event and counts the events and
// their cells, until its stdin ends; then it prints the counts.
func runPage(url string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "page:", err)
		os.Exit(1)
	}
	fmt.Println("connected")
	var events, cells atomic.Int64
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var e struct{ Cells map[string]cell }
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				fmt.Fprintln(os.Stderr, "page:", err)
				os.Exit(1)
			}
			cells.Add(int64(len(e.Cells)))
			events.Add(1)
		}
	}()
	io.Copy(io.Discard, os.Stdin)
	fmt.Println(events.Load(), cells.Load())
}
