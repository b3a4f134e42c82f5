package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// serve reads one client's lines and writes the loop's answers, one line
// each. It ends when the client leaves, sends a line longer than maxLine,
// stays idle for cfg.idleTimeout, or when ctx ends (the loop has ended).
func serve(ctx context.Context, c net.Conn, requests chan<- request, cfg config) {
	idle := cfg.idleTimeout
	defer c.Close()
	// The end of ctx interrupts a read in progress (a deadline in the
	// past), and leaves an answer on its way free to be written.
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	in := bufio.NewReaderSize(c, maxLine)
	reply := make(chan string, 1)
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		if ctx.Err() != nil {
			return
		}
		line, err := in.ReadSlice('\n')
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, bufio.ErrBufferFull):
			refuse(c, fmt.Sprintf("error: line longer than %d bytes; closing", maxLine))
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			refuse(c, fmt.Sprintf("error: idle for %v; closing", idle))
			return
		case err != nil:
			return // the client left
		}
		select {
		case requests <- request{line: string(line), from: c.RemoteAddr().String(), reply: reply}:
		case <-ctx.Done():
			return
		}
		if cfg.asked != nil {
			cfg.asked(c, string(line)) // tests: see TestQuitStopsForAll
		}
		var answer string
		select {
		case answer = <-reply:
		case <-ctx.Done():
			// The loop has ended; it may have answered just before.
			select {
			case answer = <-reply:
			default:
				return
			}
		}
		c.SetWriteDeadline(time.Now().Add(idle))
		if _, err := io.WriteString(c, answer+"\n"); err != nil {
			return
		}
	}
}

// maxLine bounds a command line, its newline included.
const maxLine = 4096

// refuse writes a last line and closes the connection gently: what the
// client sent and we did not read would otherwise turn the close into a
// reset, which can destroy the line before the client reads it.
func refuse(c net.Conn, last string) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	io.WriteString(c, last+"\n")
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, io.LimitReader(c, 1<<20))
}
