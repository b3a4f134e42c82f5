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

// Fault: Ctrl-C or SIGTERM during -check stopped the server under the
// check's requests, and the check logged an ERROR for each one left
// ("connection refused", six of them) and a 503 from /healthz, while the
// program said "everything is cleaned up" and exited 130 or 143: errors of
// the stop's own making. Once its context is done (the program stopping),
// check says nothing more; while it is not, a server that does not answer
// is still an ERROR per request.
func TestCheckIsSilentOnceStopping(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gone := ln.Addr().String()
	require.NoError(t, ln.Close()) // nobody answers there any more

	var out bytes.Buffer
	log := slog.New(mplog.NewHandler(&out, "check", mplog.Front, nil))
	check(context.Background(), gone, log)
	assert.Equal(t, 8, strings.Count(out.String(), "ERROR"), "a running program's check reports each failure:\n%s", out.String())

	out.Reset()
	stopping, cancel := context.WithCancel(context.Background())
	cancel()
	check(stopping, gone, log)
	assert.Empty(t, out.String(), "a stopping program's check says nothing")
}
