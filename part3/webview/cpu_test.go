package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var pageCPU = flag.Bool("page-cpu", false, "run TestPageCPUCost (1,000 workers, about a minute; see docs/benchmarks.md)")

// TestPageCPUCost measures what one open page costs the frontend: 1,000
// workers run 40,000 tasks that take no time (their states change as fast
// as the manager can hand tasks out), three times without a page and three
// times with one, alternating. It reports the frontend's CPU time (this
// process: the manager, its loop, the HTTP server; the workers are other
// processes) and the events the page received a second. Not in the suite:
//
//	go test -run TestPageCPUCost -v ./part3/webview -args -page-cpu
func TestPageCPUCost(t *testing.T) {
	if !*pageCPU {
		t.Skip("a measurement: run it with -args -page-cpu")
	}
	const workers, tasks = 1000, 40000
	addr, _ := server(t, []string{"-workers", strconv.Itoa(workers), "-task-ms", "0"}, nil)
	base := "http://" + addr
	succeeded := func() int {
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
	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	target := 0
	for round := 1; round <= 3; round++ {
		for _, page := range []bool{false, true} {
			events := make(chan int, 1)
			ctx, cancel := context.WithCancel(context.Background())
			if page {
				// The page: it reads the stream and counts events, as
				// cheaply as it can (this process pays for it too).
				req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events", nil)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				go func() {
					defer resp.Body.Close()
					n, buf := 0, make([]byte, 64<<10)
					for {
						k, err := resp.Body.Read(buf)
						n += bytes.Count(buf[:k], []byte("data: "))
						if err != nil {
							events <- n
							return
						}
					}
				}()
			}
			target += tasks
			start, cpu0 := time.Now(), cpu()
			for range tasks / maxSubmit {
				r, err := http.PostForm(base+"/submit", map[string][]string{"n": {strconv.Itoa(maxSubmit)}})
				require.NoError(t, err)
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				require.Equal(t, http.StatusOK, r.StatusCode)
			}
			for succeeded() < target {
				time.Sleep(100 * time.Millisecond) // a measurement's poll, the same in both runs
			}
			wall, used := time.Since(start), cpu()-cpu0
			cancel()
			msg := ""
			if page {
				n := <-events
				msg = "; the page got " + strconv.Itoa(n) + " events, " + strconv.FormatFloat(float64(n)/wall.Seconds(), 'f', 1, 64) + "/s"
			}
			t.Logf("round %d, page %-5v: %d tasks in %v, frontend CPU %v = %.3f cores%s",
				round, page, tasks, wall.Round(time.Millisecond), used.Round(time.Millisecond), used.Seconds()/wall.Seconds(), msg)
		}
	}
}
