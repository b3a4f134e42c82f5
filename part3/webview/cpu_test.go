package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
// the manager can hand tasks out. After a warm-up, each of three rounds
// runs the same 100,000 tasks without a page and 100,000 with one, in
// alternating slices of 20,000 (the page opens its stream at the start of
// each of its slices and closes it at the end, both inside the
// measurement): the machine's load drifts over seconds, and alternating
// finely leaves less of that drift in the difference.
//
// Why this stands in for "as fast as main1 -scale drives them": what a
// page adds is one stream's work per event, which grows with the cells an
// event carries, at most every worker, at most -fps events a second. Here
// each worker runs some 14 tasks a second, so most events carry most cells
// (80-90 %): the test checks it, and checks the rate. main1 -scale changes
// each worker's state about three times in its whole run (started,
// stopping, exited; its burst of messages changes no state), so its events
// carry fewer cells, or do not happen: a page costs it less. Not in the
// suite:
//
//	go test -run TestPageCPUCost -v ./part3/webview -args -page-cpu
func TestPageCPUCost(t *testing.T) {
	if !*pageCPU {
		t.Skip("a measurement: run it with -args -page-cpu")
	}
	const workers, slice, slices = 1000, 20000, 5
	addr, _ := server(t, []string{"-workers", strconv.Itoa(workers), "-task-ms", "0"}, nil)
	base := "http://" + addr
	pg := startPage(t, base+"/events")
	target := 0
	// run runs n tasks, the page open if withPage, and returns the time
	// and the frontend's CPU time they took.
	run := func(n int, withPage bool) (wall, cpu time.Duration, seen pageSeen) {
		target += n
		start, cpu0 := time.Now(), cpuTime(t)
		if withPage {
			pg.open()
		}
		for range n / maxSubmit {
			r, err := http.PostForm(base+"/submit", map[string][]string{"n": {strconv.Itoa(maxSubmit)}})
			require.NoError(t, err)
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			require.Equal(t, http.StatusOK, r.StatusCode)
		}
		// A bounded poll, as nothing better exists: the server tells of
		// finished tasks only by its /metrics counter and by the page's
		// stream, whose cost is what is measured; looking every 20 ms
		// costs each run alike.
		for succeeded(t, base) < target {
			time.Sleep(20 * time.Millisecond)
		}
		if withPage {
			seen = pg.close()
		}
		return time.Since(start), cpuTime(t) - cpu0, seen
	}
	wall, cpu, _ := run(slices*slice, false)
	t.Logf("warm-up: %d tasks in %v, frontend CPU %v", slices*slice, wall.Round(time.Millisecond), cpu.Round(time.Millisecond))
	var sum float64
	for round := 1; round <= 3; round++ {
		var w0, c0, w1, c1 time.Duration
		var p pageSeen
		for range slices {
			w, c, _ := run(slice, false)
			w0, c0 = w0+w, c0+c
			w, c, seen := run(slice, true)
			w1, c1 = w1+w, c1+c
			p.events, p.cells = p.events+seen.events, p.cells+seen.cells
		}
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
		// second (10; and a first, full event each time it opens), at least
		// half that many, each carrying most cells.
		assert.LessOrEqual(t, float64(p.events), w1.Seconds()*10+2*slices, "more than 10 events a second")
		assert.GreaterOrEqual(t, float64(p.events), w1.Seconds()*10/2, "the page got too few events for a worst case")
		assert.Greater(t, float64(p.cells)/float64(p.events), 0.6*workers, "events did not carry most cells")
	}
	t.Logf("mean: %+.1f %% of a core", sum/3)
	pg.end()
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

// pageProc is the page of TestPageCPUCost: a copy of this test binary (see
// runPage) that opens and closes the event stream when told to.
type pageProc struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startPage(t *testing.T, url string) *pageProc {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), pageVar+"="+url)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	return &pageProc{t: t, cmd: cmd, in: in, out: bufio.NewReader(out)}
}

// say tells the page what to do and returns its answer.
func (p *pageProc) say(what string) string {
	_, err := io.WriteString(p.in, what+"\n")
	require.NoError(p.t, err)
	answer, err := p.out.ReadString('\n')
	require.NoError(p.t, err, "the page did not answer %s", what)
	return strings.TrimSuffix(answer, "\n")
}

// open returns once the page has its stream's response headers.
func (p *pageProc) open() { require.Equal(p.t, "connected", p.say("open")) }

// close closes the stream and returns what the page saw in it.
func (p *pageProc) close() pageSeen {
	var seen pageSeen
	answer := p.say("close")
	_, err := fmt.Sscanf(answer, "%d %d", &seen.events, &seen.cells)
	require.NoError(p.t, err, "the page said %q", answer)
	return seen
}

func (p *pageProc) end() {
	p.in.Close()
	require.NoError(p.t, p.cmd.Wait())
}

// runPage is the page of TestPageCPUCost, in its own process. Told "open"
// on its stdin, it opens the event stream at url and counts the events and
// the cells in them (a cell is one "state"; it does not decode the JSON,
// to take as little of the machine's CPU as it can); told "close", it
// closes the stream and prints the counts. It ends with its stdin.
func runPage(url string) {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "open" {
			fmt.Fprintln(os.Stderr, "page: want open, got", in.Text())
			os.Exit(1)
		}
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "page:", err)
			os.Exit(1)
		}
		fmt.Println("connected")
		events, cells := 0, 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: ")); ok {
					cells += bytes.Count(data, []byte(`"state":`))
					events++
				}
			}
		}()
		if !in.Scan() || in.Text() != "close" {
			os.Exit(1)
		}
		cancel()
		<-done
		resp.Body.Close()
		fmt.Println(events, cells)
	}
}
