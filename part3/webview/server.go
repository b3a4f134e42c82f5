package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Limits of what a page may send.
const (
	maxBody   = 1 << 10
	maxSubmit = 10000
)

// routes serves the page, its event stream, its buttons, and the
// operators' endpoints. Anything else is 404.
func (s *state) routes(onLoop func(context.Context, func() string) (string, bool), subs, unsubs chan chan *frame, end <-chan struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", http.FileServerFS(mustSub(page, "page")))
	mux.Handle("GET /app.js", http.FileServerFS(mustSub(page, "page")))
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		s.stream(w, r, subs, unsubs, end)
	})
	// A button's request carries a small form; anything bigger than
	// maxBody is refused with 413 before it is read.
	button := func(f func(r *http.Request) (func() string, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			if err := r.ParseForm(); err != nil {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
					return
				}
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			action, err := f(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			answer, ok := onLoop(r.Context(), action)
			if !ok {
				http.Error(w, "the manager is not answering", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, answer)
		}
	}
	mux.Handle("POST /submit", button(func(r *http.Request) (func() string, error) {
		n, err := strconv.Atoi(r.FormValue("n"))
		if err != nil || n < 1 || n > maxSubmit {
			return nil, fmt.Errorf("n wants a number of tasks from 1 to %d, got %q", maxSubmit, r.FormValue("n"))
		}
		return func() string { return s.submit(n) }, nil
	}))
	mux.Handle("POST /kill", button(func(*http.Request) (func() string, error) { return s.kill, nil }))
	mux.Handle("POST /stop", button(func(*http.Request) (func() string, error) {
		return func() string { s.log.Info("stop from the page"); s.quit(); return "stopping" }, nil
	}))
	// /healthz asks the loop itself: a manager whose loop is stuck is not
	// healthy, even if its HTTP server answers.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := onLoop(r.Context(), func() string { return "" }); !ok {
			http.Error(w, "the manager's loop is not answering", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

// stream is one page's event stream. It asks the loop for frames (the
// first is the whole state), and writes what changed since the last one it
// wrote. Only this goroutine knows what this page has seen: a slow page
// gets fewer, bigger updates; the loop is never held.
func (s *state) stream(w http.ResponseWriter, r *http.Request, subs, unsubs chan chan *frame, end <-chan struct{}) {
	ch := make(chan *frame, 1)
	select {
	case subs <- ch:
	case <-r.Context().Done():
		return
	case <-end:
		return
	}
	defer func() {
		select {
		case unsubs <- ch:
		case <-end:
		}
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	var seen *frame
	var buf []byte // the event being written, reused
	for {
		select {
		case f := <-ch:
			// A page that cannot take an update within ten seconds is
			// gone: drop it (its browser reconnects, and gets it all).
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			buf = update(buf[:0], seen, f)
			if _, err := w.Write(buf); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			seen = f
		case <-r.Context().Done():
			return
		case <-end:
			return
		}
	}
}

// update appends to b one server-sent event: the totals, and the cells
// that changed since seen (all of them if seen is nil), by index:
//
//	data: {"seq":7,"done":120,"failed":0,"queued":3,"full":false,"workers":1000,"cells":{"12":{"state":"busy","pid":4242,"done":3}}}
//
// It writes the JSON itself rather than through encoding/json: with 1,000
// workers each event may carry 1,000 cells, ten times a second, and
// json.Marshal of a map of them (reflection, a string key per cell, the
// keys sorted) took about 1 ms of CPU per event and 0.4 MB of garbage.
// This takes a few tens of microseconds, and nothing once b has grown.
func update(b []byte, seen, f *frame) []byte {
	num := func(b []byte, name string, v int) []byte {
		b = append(append(append(b, '"'), name...), `":`...)
		return strconv.AppendInt(b, int64(v), 10)
	}
	b = append(b, "data: {"...)
	b = num(b, "seq", f.Seq)
	b = num(append(b, ','), "done", f.Done)
	b = num(append(b, ','), "failed", f.Bad)
	b = num(append(b, ','), "queued", f.Queue)
	b = strconv.AppendBool(append(b, `,"full":`...), seen == nil)
	b = num(append(b, ','), "workers", len(f.Cells))
	b = append(b, `,"cells":{`...)
	sep := false
	for i, c := range f.Cells {
		if seen != nil && seen.Cells[i] == c {
			continue
		}
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = strconv.AppendInt(append(b, '"'), int64(i), 10)
		// A state is a plain lower-case word: Go's quoting of it is JSON's.
		b = strconv.AppendQuote(append(b, `":{"state":`...), c.State)
		b = num(append(b, ','), "pid", c.Pid)
		b = num(append(b, ','), "done", c.Done)
		b = append(b, '}')
	}
	return append(b, "}}\n\n"...)
}

func sameCells(a, b *frame) bool {
	if len(a.Cells) != len(b.Cells) || a.Done != b.Done || a.Bad != b.Bad || a.Queue != b.Queue {
		return false
	}
	for i := range a.Cells {
		if a.Cells[i] != b.Cells[i] {
			return false
		}
	}
	return true
}
