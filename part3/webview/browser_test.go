package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// browserWorkers is the number of workers of the browser test; a run with
// 1,000 (make browser-1000) measures how long the page takes to show them.
var browserWorkers = flag.Int("browser-workers", 20, "workers in TestBrowser")

// chromium returns the browser to drive: $MP_CHROMIUM, or Debian's binary
// (not the /usr/bin/chromium wrapper script), or one on PATH; "" if none.
func chromium() string {
	if p := os.Getenv("MP_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/lib/chromium/chromium"); err == nil {
		return "/usr/lib/chromium/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser opens the page in a real, headless Chromium and uses it as a
// person would: it waits for the grid, submits work and sees cells turn
// busy and back to idle, kills a worker and sees it come back with a new
// PID, takes the screenshot of docs/img/webview.png, and reloads to see the
// whole state again.
func TestBrowser(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no Chromium found (apt-get install chromium, or set MP_CHROMIUM): skipping the browser test")
	}
	n := *browserWorkers
	addr, stop := server(t, []string{"-workers", fmt.Sprint(n), "-task-ms", "400"}, nil)
	url := "http://" + addr + "/"

	bctx, closeBrowser := startBrowser(t, exe)
	// The browser goes first: its streams end before the server stops.
	defer func() { closeBrowser(); stop() }()
	step := stepper(t, bctx)
	poll := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(0))
	}

	idle := fmt.Sprintf(`document.querySelectorAll("#grid .cell.idle").length == %d`, n)
	step(fmt.Sprintf("the page shows %d idle workers", n), 60*time.Second,
		chromedp.Navigate(url), poll(idle))

	step("submit work: cells turn busy", 20*time.Second,
		chromedp.Click("#submit"),
		poll(`document.querySelectorAll("#grid .cell.busy").length > 0`))
	step("then back to idle, 20 tasks done", 30*time.Second,
		poll(idle+` && document.getElementById("status").textContent.includes(" 20 tasks done")`))

	// Kill a worker: the answer names it; its cell comes back idle with
	// another PID.
	step("kill a worker: it restarts with a new PID", 30*time.Second,
		chromedp.Click("#kill"),
		poll(`/^killed worker-[0-9]+ \(pid [0-9]+\)$/.test(document.getElementById("answer").textContent)`),
		poll(`(() => {
			const m = document.getElementById("answer").textContent.match(/^killed worker-([0-9]+) \(pid ([0-9]+)\)$/);
			const c = document.querySelectorAll("#grid .cell")[Number(m[1]) - 1];
			return c.dataset.state == "idle" && c.dataset.pid != m[2] && c.dataset.pid != "0";
		})()`))

	// The screenshot for the docs: work in progress.
	step("work in progress", 20*time.Second,
		chromedp.SetValue("#n", "12"),
		chromedp.Click("#submit"),
		poll(`document.querySelectorAll("#grid .cell.busy").length >= 8`))
	sctx, cancelShot := context.WithTimeout(bctx, 20*time.Second)
	png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	cancelShot()
	require.NoError(t, err, "screenshot")
	if n == 20 {
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "img", "webview.png"), png, 0o644))
	}

	// Responsiveness while every cell changes: the page's main thread must
	// answer a script at once, however many updates arrive.
	step("many tasks at once", 20*time.Second,
		chromedp.SetValue("#n", fmt.Sprint(2*n)),
		chromedp.Click("#submit"),
		poll(`document.querySelectorAll("#grid .cell.busy").length > 0`))
	worst := slowestScript(t, bctx, 20)
	t.Logf("while %d tasks run: the slowest of 20 scripts took %v", 2*n, worst.Round(time.Millisecond))
	assert.Less(t, worst, 2*time.Second, "the page is not responsive")

	// A reload is a new stream: its first event holds every cell, so the
	// grid is whole at once, even when nothing changes any more.
	step("reload: the whole state again", 30*time.Second,
		poll(idle),
		chromedp.Reload(),
		poll(idle+` && document.getElementById("status").dataset.frames >= 1`))
}

// startBrowser starts Chromium (exe) with a profile of its own in a
// temporary directory and no name resolution beyond 127.0.0.1, and returns
// its context, under one deadline for the whole browser; closeBrowser ends
// it. Every step takes its own deadline from what is left.
func startBrowser(t *testing.T, exe string) (bctx context.Context, closeBrowser func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Env("XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1100, 560),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	closeBrowser = func() { cancelBrowser(); cancelAlloc(); cancel() }
	start := time.Now()
	if err := chromedp.Do(bctx); err != nil {
		closeBrowser()
		require.NoError(t, err, "starting the browser")
	}
	t.Logf("browser started in %v", time.Since(start).Round(time.Millisecond))
	return bctx, closeBrowser
}

// stepper returns the test's steps: actions run on bctx within a timeout,
// each step's time logged.
func stepper(t *testing.T, bctx context.Context) func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	return func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		start := time.Now()
		require.NoError(t, chromedp.Do(sctx, actions...), what)
		t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
	}
}

// slowestScript runs a small script n times on the page and returns the
// slowest answer: how responsive the page's main thread is.
func slowestScript(t *testing.T, bctx context.Context, n int) time.Duration {
	var worst time.Duration
	for range n {
		ectx, cancel := context.WithTimeout(bctx, 10*time.Second)
		t0 := time.Now()
		_, err := chromedp.Run(ectx, chromedp.Evaluate[int](`document.querySelectorAll("#grid .cell").length`))
		cancel()
		require.NoError(t, err)
		worst = max(worst, time.Since(t0))
	}
	return worst
}
