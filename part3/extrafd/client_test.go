package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hangUp listens on 127.0.0.1 and closes each connection as soon as it is
// accepted, as a server that is stopping does; it ends with the test.
func hangUp(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// Fault: Ctrl-C or SIGTERM during -demo closed the demo's connection under
// it, and the demo logged "client [front] - ERROR - EOF" (or a reset) while the program
// said "everything is cleaned up" and exited 130 or 143: an error of the
// stop's own making. Once its context is done, the demo ends without a
// word; while it is not, a server that hangs up is still an ERROR. Either
// way it ends the run (stop).
func TestDemoIsSilentOnceStopping(t *testing.T) {
	addr := hangUp(t)
	var out bytes.Buffer
	log := slog.New(mplog.NewHandler(&out, "client", mplog.Front, nil))

	stopped := 0
	runDemo(context.Background(), addr, func() { stopped++ }, log)
	assert.Equal(t, 1, strings.Count(out.String(), "ERROR"), "a running program's demo reports the hang-up (EOF, or a reset):\n%s", out.String())
	assert.Equal(t, 1, stopped)

	out.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	runDemo(ctx, addr, func() { stopped++ }, log)
	assert.NotContains(t, out.String(), "ERROR", "a stopping program's demo says nothing of the hang-up")
	assert.Equal(t, 2, stopped)
}
