package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
)

// check is the -check mode: one request to each endpoint, and what came
// back, as a test or a reader would look at it. Once ctx is done (Ctrl-C:
// the program is stopping under it) it says nothing more: every answer
// after that would be a failure of the stop's making, not of the server.
func check(ctx context.Context, addr string, log *slog.Logger) {
	c := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + addr
	say := func(what string, resp *http.Response, err error, show func(body string) string) {
		if err != nil {
			if ctx.Err() == nil {
				log.Error(what + ": " + err.Error())
			}
			return
		}
		defer resp.Body.Close()
		var line string
		if resp.Header.Get("Content-Type") == "text/event-stream" {
			line = fmt.Sprintf("%s: %s, %s", what, resp.Status, follow(resp.Body))
		} else {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			line = fmt.Sprintf("%s: %s%s", what, resp.Status, show(string(b)))
		}
		if ctx.Err() == nil {
			log.Info(line)
		}
	}
	firstLine := func(body string) string { l, _, _ := strings.Cut(body, "\n"); return ": " + l }
	nothing := func(string) string { return "" }
	resp, err := c.Get(base + "/")
	say("GET /", resp, err, func(b string) string {
		return fmt.Sprintf(", the page (%s)", strings.Join(strings.Fields(firstLine(b)), " ")[2:])
	})
	resp, err = c.Get(base + "/healthz")
	say("GET /healthz", resp, err, firstLine)
	resp, err = c.PostForm(base+"/submit", map[string][]string{"n": {"5"}})
	say("POST /submit n=5", resp, err, firstLine)
	resp, err = c.PostForm(base+"/submit", map[string][]string{"n": {"-1"}})
	say("POST /submit n=-1", resp, err, firstLine)
	resp, err = c.Post(base+"/submit", "application/x-www-form-urlencoded", strings.NewReader("n=1&pad="+strings.Repeat("x", 2000)))
	say("POST /submit with 2 KB", resp, err, firstLine)
	// The event stream: the first event holds every worker; the next ones
	// what changed, until the five tasks are done.
	resp, err = http.Get(base + "/events") // no client timeout: a stream
	say("GET /events", resp, err, func(string) string { return "" })
	resp, err = c.Get(base + "/nowhere")
	say("GET /nowhere", resp, err, nothing)
	resp, err = c.Get(base + "/metrics")
	say("GET /metrics", resp, err, func(b string) string {
		var families []string
		sc := bufio.NewScanner(strings.NewReader(b))
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "# TYPE mp_"); ok {
				families = append(families, "mp_"+name)
			}
		}
		return ", the program's own: " + strings.Join(families, ", ")
	})
}

// writeAddr writes a script's address file.
func writeAddr(file, addr string) error {
	if err := os.WriteFile(file, []byte(addr+"\n"), 0o644); err != nil {
		return fmt.Errorf("-addr-file: %w", err)
	}
	return nil
}

// follow reads an event stream until the totals say that 5 tasks are done,
// and says what it saw.
func follow(r io.Reader) string {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var first string
	for n := 0; sc.Scan(); {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var f struct {
			Full    bool
			Workers int
			Done    int
			Cells   map[string]cell
		}
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			return err.Error()
		}
		if n++; n == 1 {
			first = fmt.Sprintf("a first event with all %d cells (full: %v)", len(f.Cells), f.Full)
		}
		if f.Done == 5 {
			return first + ", then only what changed, until 5 tasks were done"
		}
	}
	return "the stream ended early: " + fmt.Sprint(sc.Err())
}
