package manager_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/manager"
	"golang.org/x/sys/unix"
)

// BenchmarkFanInExtraSources is BenchmarkFanIn's workers=100 with and
// without the sources of the extrafd chapter beside it: a TCP client on
// 127.0.0.1 that sends a line and waits for the loop's answer, 1,000 times
// a second, and an eventfd written 1,000 times a second, each read by a
// goroutine and handed to the loop through manager.Watch. msgs/s counts the
// workers' messages handed to OnMessage; run it with -count to alternate:
//
//	go test -run '^$' -bench FanInExtraSources -benchtime 5x -count 5 ./mp/manager
func BenchmarkFanInExtraSources(b *testing.B) {
	b.Run("plain", func(b *testing.B) { fanInWith(b, false) })
	b.Run("tcp+eventfd", func(b *testing.B) { fanInWith(b, true) })
}

func fanInWith(b *testing.B, extra bool) {
	const n, perWorker = 100, 10000
	cfg, _ := config(n)
	cfg.Start = func(ctx context.Context, w *manager.Worker) (*mp.Process, error) {
		return testWorkers.Start(ctx, mp.Options{Name: w.Name(), Env: []string{"GOMAXPROCS=1"}})
	}
	received := 0
	all := make(chan struct{}, 1)
	cfg.OnMessage = func(*manager.Worker, mp.Message) {
		if received++; received == n*perWorker {
			received = 0
			all <- struct{}{}
		}
	}
	var wg sync.WaitGroup
	lines, ticks := 0, uint64(0)
	var before func(context.Context, *manager.Manager)
	if extra {
		before = func(ctx context.Context, m *manager.Manager) { startExtraSources(b, ctx, m, &wg, &lines, &ticks) }
	}
	m, ctx, stop := runReady(b, cfg, before)
	b.ResetTimer()
	for b.Loop() {
		for _, w := range m.Workers() {
			if err := burst.Send(ctx, w.Process(), perWorker); err != nil {
				b.Fatal(err)
			}
		}
		<-all
	}
	b.ReportMetric(float64(n*perWorker)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.StopTimer()
	stop()
	wg.Wait()
	if extra {
		b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
		b.ReportMetric(float64(ticks)/b.Elapsed().Seconds(), "ticks/s")
	}
}

// startExtraSources attaches a TCP server (and its client) and an eventfd
// (and its writer) to m's loop. The loop counts lines and ticks; everything
// ends with ctx.
func startExtraSources(b *testing.B, ctx context.Context, m *manager.Manager, wg *sync.WaitGroup, lines *int, ticks *uint64) {
	startLineSource(b, ctx, m, wg, lines)
	startTickSource(b, ctx, m, wg, ticks)
}

// startLineSource attaches a TCP server to m's loop, with a client that
// sends it a line every millisecond and waits for the loop's answer. The
// loop counts the lines in *lines.
func startLineSource(b *testing.B, ctx context.Context, m *manager.Manager, wg *sync.WaitGroup, lines *int) {
	type request struct{ reply chan string }
	requests := make(chan request)
	if err := manager.Watch(m, requests, func(r request) { *lines++; r.reply <- "ok" }); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	wg.Add(2)
	go func() { // the server side: one connection
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		context.AfterFunc(ctx, func() { c.Close() })
		in := bufio.NewReader(c)
		reply := make(chan string, 1)
		for {
			if _, err := in.ReadString('\n'); err != nil {
				return
			}
			select {
			case requests <- request{reply}:
			case <-ctx.Done():
				return
			}
			select {
			case a := <-reply:
				io.WriteString(c, a+"\n")
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { // the client: a line every millisecond, and its answer
		defer wg.Done()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		context.AfterFunc(ctx, func() { c.Close() })
		in := bufio.NewReader(c)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			if _, err := io.WriteString(c, "status\n"); err != nil {
				return
			}
			if _, err := in.ReadString('\n'); err != nil {
				return
			}
		}
	}()
}

// startTickSource attaches an eventfd to m's loop, with a writer that adds
// 1 to it every millisecond (a device). The loop adds the counts it reads to
// *ticks.
func startTickSource(b *testing.B, ctx context.Context, m *manager.Manager, wg *sync.WaitGroup, ticks *uint64) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		b.Fatal(err)
	}
	f := os.NewFile(uintptr(efd), "bench-eventfd")
	counts := make(chan uint64)
	if err := manager.Watch(m, counts, func(v uint64) { *ticks += v }); err != nil {
		b.Fatal(err)
	}
	wg.Add(2)
	go func() { // the reader, as in the chapter
		defer wg.Done()
		defer f.Close()
		buf := make([]byte, 8)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case counts <- binary.NativeEndian.Uint64(buf):
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { // the "device": 1,000 ticks a second
		defer wg.Done()
		defer context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })()
		one := binary.NativeEndian.AppendUint64(nil, 1)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				unix.Write(efd, one)
			case <-ctx.Done():
				f.SetReadDeadline(time.Now())
				return
			}
		}
	}()
}
