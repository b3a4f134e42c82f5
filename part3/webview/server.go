package main

import (
	"context"
	"encoding/json"
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
	for {
		select {
		case f := <-ch:
			// A page that cannot take an update within ten seconds is
			// gone: drop it (its browser reconnects, and gets it all).
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := w.Write(update(seen, f)); err != nil {
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

// update is one server-sent event: the cells that changed since seen (all
// of them if seen is nil), by index, and the totals.
func update(seen, f *frame) []byte {
	changed := map[string]cell{}
	for i, c := range f.Cells {
		if seen == nil || seen.Cells[i] != c {
			changed[strconv.Itoa(i)] = c
		}
	}
	b, _ := json.Marshal(struct {
		*frame
		Full    bool            `json:"full"`
		Workers int             `json:"workers"`
		Cells   map[string]cell `json:"cells"`
	}{f, seen == nil, len(f.Cells), changed})
	return fmt.Appendf(nil, "data: %s\n\n", b)
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
