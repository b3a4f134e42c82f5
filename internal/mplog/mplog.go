// Package mplog is the log format of the project's chapters and of package
// mp's own lines: "<who> [front|back] - <LEVEL> - <message>", one Write per
// record, at the level MP_LOG_LEVEL sets.
package mplog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mpgo/mp/internal/env"
	"github.com/mpgo/mp/internal/initcheck"
)

// Log lines name who speaks and from which side of the process boundary:
//
//	MyProcess.my-process [back] - INFO - got parameter gotcha!
//	MyProcess.my-process [front] - WARN - backend handler failed command=boom
//
// that is "<kind>.<name> [front|back] - <LEVEL> - <message>", followed by any
// attributes as key=value. There is no timestamp unless MP_LOG_TIME is true
// (1, true), so a chapter's output can be compared as it is. MP_LOG_LEVEL
// (debug, info, warn, error; default info) sets the level. Every record is
// written to the
// output with a single Write call, so lines from several processes sharing
// one stdout never interleave.

// Side says on which side of the process boundary code runs.
type Side string

// The two sides of a process.
const (
	Front Side = "front" // the parent, which starts the process and sends to it
	Back  Side = "back"  // the re-executed child, which runs the handlers
)

// New returns a logger whose lines start with who and side, written to
// os.Stdout at the level set by MP_LOG_LEVEL. Like everything that may start
// or be a backend, it requires mp.Init to have run.
func New(who string, side Side) *slog.Logger {
	initcheck.Require()
	return slog.New(NewHandler(os.Stdout, who, side, nil))
}

// logConfig is what the environment says about logging, read once.
type logConfig struct {
	level slog.Level
	time  bool
}

// config reads MP_LOG_LEVEL and MP_LOG_TIME. A value that cannot be read
// leaves the default in place; Init reports it once, at start-up, with
// every other variable of the project (env.Check).
func config() logConfig {
	var c logConfig
	level, _ := env.Choice("MP_LOG_LEVEL", "info", "debug", "info", "warn", "warning", "error")
	switch level {
	case "debug":
		c.level = slog.LevelDebug
	case "warn", "warning":
		c.level = slog.LevelWarn
	case "error":
		c.level = slog.LevelError
	}
	c.time, _ = env.Bool("MP_LOG_TIME", false)
	return c
}

// Handler is the slog.Handler behind New.
type Handler struct {
	w     io.Writer
	mu    *sync.Mutex
	opts  slog.HandlerOptions
	head  string // "who [side] - "
	attrs string // preformatted attributes from WithAttrs
	group string // prefix from WithGroup
	time  bool
}

// NewHandler returns a handler writing to w. who and side make up the
// start of every line; opts may be nil, in which case the level comes from
// MP_LOG_LEVEL.
func NewHandler(w io.Writer, who string, side Side, opts *slog.HandlerOptions) *Handler {
	h := &Handler{w: w, mu: new(sync.Mutex), head: fmt.Sprintf("%s [%s] - ", who, side), time: config().time}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Level == nil {
		h.opts.Level = config().level
	}
	return h
}

// Enabled reports whether records at level are written.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.opts.Level.Level()
}

// Handle writes one line for r.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	if h.time {
		b.WriteString(r.Time.Format(time.TimeOnly + ".000"))
		b.WriteByte(' ')
	}
	b.WriteString(h.head)
	b.WriteString(r.Level.String())
	b.WriteString(" - ")
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b.Bytes())
	return err
}

func appendAttr(b *bytes.Buffer, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			appendAttr(b, g, ga)
		}
		return
	}
	v := a.Value.String()
	if strings.ContainsAny(v, " \t\n\"=") || v == "" {
		v = fmt.Sprintf("%q", v)
	}
	fmt.Fprintf(b, " %s%s=%s", group, a.Key, v)
}

// WithAttrs returns a handler that adds attrs to every line.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	var b bytes.Buffer
	for _, a := range attrs {
		appendAttr(&b, h.group, a)
	}
	h2.attrs += b.String()
	return &h2
}

// WithGroup returns a handler that qualifies later attribute keys with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group += name + "."
	return &h2
}
