package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/proctest"
	"github.com/mpgo/mp/mp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The test binary is also the chapter's workers: Init diverts a re-executed
// copy into its backend, as the chapter's main does. Another copy may be
// the page of TestPageCPUCost.
func TestMain(m *testing.M) {
	mp.Init()
	if url := os.Getenv(pageVar); url != "" {
		runPage(url) // a copy of the binary as TestPageCPUCost's page
		return
	}
	if os.Getenv(proctest.TagVar) == "" {
		os.Setenv(proctest.TagVar, "webview-unit-"+strconv.Itoa(os.Getpid()))
	}
	// The library keeps one thread (and its goroutine) that starts every
	// process, for the life of the program: see package mp.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/mpgo/mp/mp.spawn.func1.1"))
}

// server runs the chapter's run in the test and returns its address once
// every worker is ready. stop ends it, returns run's error, and checks that
// no process is left; it runs at the test's end if the test did not.
func server(t *testing.T, args []string, tweak func(*config)) (addr string, stop func() error) {
	t.Helper()
	cfg, err := parseFlags(append([]string{"-workers", "4", "-task-ms", "1"}, args...))
	require.NoError(t, err)
	ready := make(chan string, 1)
	cfg.onReady = func(a string) { ready <- a }
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, cfg, mplog.New("main", mplog.Front)) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run ended before it was ready: %v", err)
	case <-time.After(30*time.Second + time.Duration(cfg.workers)*50*time.Millisecond):
		cancel()
		<-done
		t.Fatal("the workers were not ready in time")
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
			assert.Empty(t, proctest.Tagged(os.Getenv(proctest.TagVar)), "processes left")
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

// event is what the tests read of a server-sent event.
type event struct {
	Full    bool
	Workers int
	Done    int
	Seq     int
	Cells   map[string]cell
}

// stream opens /events and returns a function that reads the next event.
func stream(t *testing.T, ctx context.Context, addr string) (next func() (event, error), resp *http.Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/events", nil)
	require.NoError(t, err)
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err = (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	return func() (event, error) {
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e event
				return e, json.Unmarshal([]byte(data), &e)
			}
		}
		if sc.Err() != nil {
			return event{}, sc.Err()
		}
		return event{}, io.EOF
	}, resp
}

// Fault: the server must listen on 127.0.0.1 only, never on every
// interface: its buttons start and kill processes.
func TestListensOnLoopbackOnly(t *testing.T) {
	addr, _ := server(t, nil, nil)
	host, _, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
}

// Fault: unknown paths and methods, bad arguments and bodies over the
// limit get their status codes, and the server goes on.
func TestStatusCodes(t *testing.T) {
	addr, _ := server(t, nil, nil)
	base := "http://" + addr
	c := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/", "", 200},
		{"GET", "/app.js", "", 200},
		{"GET", "/healthz", "", 200},
		{"GET", "/metrics", "", 200},
		{"GET", "/index.html", "", 404},
		{"GET", "/nowhere", "", 404},
		{"GET", "/page/index.html", "", 404},
		{"GET", "/events/x", "", 404},
		{"GET", "/../main.go", "", 404}, // after the mux's redirect to /main.go
		{"POST", "/submit", "n=x", 400},
		{"POST", "/submit", "n=0", 400},
		{"POST", "/submit", "n=10001", 400},
		{"POST", "/submit", "n=1&pad=" + strings.Repeat("x", maxBody), 413},
		{"POST", "/kill", strings.Repeat("x", 1<<20), 413},
		{"POST", "/submit", "n=2", 200},
		{"GET", "/submit", "", 405},
		{"DELETE", "/healthz", "", 405},
	} {
		req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		require.NoError(t, err)
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		require.NoError(t, err, "%s %s", tc.method, tc.path)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, tc.want, resp.StatusCode, "%s %s", tc.method, tc.path)
	}
}

// Fault: 50 pages open their event stream, read the full state, and go
// away: no goroutine of theirs is left in the server, which still runs.
func TestDroppedStreamsLeaveNoGoroutine(t *testing.T) {
	addr, stop := server(t, nil, nil)
	before := goleak.IgnoreCurrent()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			next, resp := stream(t, ctx, addr)
			defer resp.Body.Close()
			e, err := next()
			if assert.NoError(t, err) {
				assert.True(t, e.Full)
				assert.Len(t, e.Cells, 4)
			}
		}()
	}
	wg.Wait()
	// The server is still running: only the streams' goroutines must be
	// gone (goleak retries for a while as they notice).
	goleak.VerifyNone(t, before, goleak.IgnoreAnyFunction("github.com/mpgo/mp/mp.spawn.func1.1"))
	require.NoError(t, stop())
}

// Fault: a page whose connection never drains (it stops reading after the
// first event, with small socket buffers) must never slow the manager's
// loop: 2,000 tasks still run to the end at full speed, and another page
// sees them all done.
func TestSlowPageNeverSlowsTheLoop(t *testing.T) {
	small := func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, addr)
		return smallBuffers{ln}, err
	}
	addr, _ := server(t, []string{"-workers", "40", "-fps", "50"}, func(c *config) { c.listen = small })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The slow page: it reads the first event, then nothing.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
		return nil
	}}
	slow, err := d.DialContext(ctx, "tcp", addr)
	require.NoError(t, err)
	defer slow.Close()
	_, err = io.WriteString(slow, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = slow.Read(make([]byte, 512))
	require.NoError(t, err)

	next, resp := stream(t, ctx, addr)
	defer resp.Body.Close()
	r, err := http.PostForm("http://"+addr+"/submit", map[string][]string{"n": {"2000"}})
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, 200, r.StatusCode)
	for {
		e, err := next()
		require.NoError(t, err, "the fast page stopped getting events")
		if e.Done == 2000 {
			break
		}
	}
}

// smallBuffers gives every accepted connection a small send buffer, so
// that a page that does not read blocks its stream within a few frames.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(2048)
	}
	return c, err
}

// Fault: updates are coalesced. However fast the workers change (20
// workers running 4,000 tasks of 3 ms), a page gets at most -fps events a
// second (10 here), after its first.
func TestUpdatesAreCoalesced(t *testing.T) {
	addr, _ := server(t, []string{"-workers", "20", "-task-ms", "3"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	next, resp := stream(t, ctx, addr)
	defer resp.Body.Close()
	first, err := next()
	require.NoError(t, err)
	require.True(t, first.Full)
	r, err := http.PostForm("http://"+addr+"/submit", map[string][]string{"n": {"4000"}})
	require.NoError(t, err)
	r.Body.Close()
	start, events := time.Now(), 0
	for time.Since(start) < time.Second {
		e, err := next()
		require.NoError(t, err)
		require.False(t, e.Full)
		events++
		if e.Done == 4000 {
			break
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d events in %v", events, elapsed.Round(time.Millisecond))
	assert.LessOrEqual(t, events, int(elapsed.Seconds()*10)+2, "more than 10 events a second")
	assert.GreaterOrEqual(t, events, 3, "the page was not updated")
}
