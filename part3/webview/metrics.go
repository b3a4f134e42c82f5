package main

import (
	"io/fs"

	"github.com/mpgo/mp/mp/manager"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are what Prometheus scrapes, in a registry of the program's own:
// the workers by state, the tasks, the restarts, the messages, and how
// long tasks take. The counters are safe from any goroutine (they are
// atomic inside client_golang); the loop sets the gauges.
type metrics struct {
	reg                                  *prometheus.Registry
	workers                              *prometheus.GaugeVec
	started, succeeded, failed, timedOut prometheus.Counter
	restarts, messages                   prometheus.Counter
	duration                             prometheus.Histogram
}

func newMetrics() *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mp", Name: name, Help: help})
	}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		workers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "mp", Name: "workers",
			Help: "Workers by state: starting, idle, busy, stopping, exited."}, []string{"state"}),
		started:   counter("tasks_started_total", "Tasks handed to a worker."),
		succeeded: counter("tasks_succeeded_total", "Tasks that succeeded."),
		failed:    counter("tasks_failed_total", "Tasks that failed, other than by a timeout."),
		timedOut:  counter("tasks_timed_out_total", "Tasks that ran past their timeout."),
		restarts:  counter("worker_restarts_total", "Worker processes that exited and are restarted."),
		messages:  counter("messages_received_total", "Messages received from workers."),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "mp", Name: "task_duration_seconds",
			Help: "Time from a task's hand-out to its end.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
	}
	m.reg.MustRegister(m.workers, m.started, m.succeeded, m.failed, m.timedOut, m.restarts, m.messages, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.setStates(nil)
	return m
}

// setStates sets the workers gauge from counts by state.
func (m *metrics) setStates(counts map[manager.State]int) {
	for s := manager.Starting; s <= manager.Exited; s++ {
		m.workers.WithLabelValues(s.String()).Set(float64(counts[s]))
	}
}

// mustSub is fs.Sub for a directory known to exist in an embedded tree.
func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
