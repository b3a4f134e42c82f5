package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// browserWorkers is the number of workers of the browser test; a run with
// 1,000 (make browser-1000) measures how long the page takes to show them.
var browserWorkers = flag.Int("browser-workers", 20, "workers in TestBrowser")

// updateScreenshot makes TestBrowser (with 20 workers) write its screenshot
// to the docs' image, trackedScreenshot; without it the screenshot goes to
// a temporary directory, and go test leaves the clone as it was. Refresh
// the image with: go test -run TestBrowser ./part3/webview -update-screenshot
var updateScreenshot = flag.Bool("update-screenshot", false, "TestBrowser: write the screenshot to docs/img/webview.png")

// trackedScreenshot is the image docs/part3.md shows, relative to this
// package's directory.
var trackedScreenshot = filepath.Join("..", "..", "docs", "img", "webview.png")

// screenshotPath returns where TestBrowser writes its screenshot: the
// docs' image when update is set and the page has the docs' 20 workers,
// else a file in the test's temporary directory.
func screenshotPath(t *testing.T, update bool, workers int) string {
	if update && workers == 20 {
		return trackedScreenshot
	}
	return filepath.Join(t.TempDir(), "webview.png")
}

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
// PID, takes the screenshot of docs/img/webview.png (written there only
// with -update-screenshot: the tracked image is left as it was otherwise,
// which the test checks), and reloads to see the whole state again.
func TestBrowser(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no Chromium found (apt-get install chromium, or set MP_CHROMIUM): skipping the browser test")
	}
	n := *browserWorkers
	shot := screenshotPath(t, *updateScreenshot, n)
	if shot != trackedScreenshot {
		before := fileState(t, trackedScreenshot)
		t.Cleanup(func() {
			assert.Equal(t, before, fileState(t, trackedScreenshot), "%s changed without -update-screenshot", trackedScreenshot)
		})
	}
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
	require.NoError(t, os.WriteFile(shot, png, 0o644))

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
		inNewDocument(poll(idle+` && document.getElementById("status").dataset.frames >= 1`)))
}

// inNewDocument runs a script action right after a navigation. chromedp
// learns the new document's execution context from an event that can
// arrive after the load event Reload and Navigate wait for, so the first
// try may go to the context the navigation destroyed (Chromium answers
// "Cannot find context with specified id"): a, like every action, reads
// the context afresh, so it is tried again until it runs in the new one
// or its step's deadline ends.
func inNewDocument(a chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		for {
			v, err := a(ctx, tg)
			if err == nil || ctx.Err() != nil || !contextGone(err) {
				return v, err
			}
		}
	}
}

// contextGone reports whether err says the script's execution context no
// longer exists: its document was replaced.
func contextGone(err error) bool {
	return strings.Contains(err.Error(), "Cannot find context with specified id") ||
		strings.Contains(err.Error(), "Execution context was destroyed")
}

// fileState returns what tells a change of the file at path: its size,
// modification time and content.
func fileState(t *testing.T, path string) string {
	info, err := os.Stat(path)
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return fmt.Sprintf("%d bytes, modified %v, sha256 %x", info.Size(), info.ModTime(), sha256.Sum256(b))
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

// TestScreenshotPath: without -update-screenshot the browser test's
// screenshot goes to its temporary directory, never to the tracked
// docs/img/webview.png, which only -update-screenshot with the docs' 20
// workers writes. It runs without Chromium too.
func TestScreenshotPath(t *testing.T) {
	for _, n := range []int{20, 1000} {
		p := screenshotPath(t, false, n)
		assert.NotEqual(t, trackedScreenshot, p, "%d workers", n)
		assert.Equal(t, "webview.png", filepath.Base(p))
		assert.DirExists(t, filepath.Dir(p), "a temporary directory of the test")
	}
	assert.Equal(t, trackedScreenshot, screenshotPath(t, true, 20))
	assert.NotEqual(t, trackedScreenshot, screenshotPath(t, true, 1000), "the docs show 20 workers")
	assert.FileExists(t, trackedScreenshot)
}
