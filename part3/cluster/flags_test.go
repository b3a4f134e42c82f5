package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -listen and -url-file concern the NATS server this process starts; with
// -nats it starts none, and they used to be ignored without a word (a user
// who meant the file for other hosts got none, brk12c noticed). They are a
// usage error then; the defaults and either flag alone still parse.
func TestServerFlagsNeedTheEmbeddedServer(t *testing.T) {
	for _, args := range [][]string{
		{"-nats", "nats://127.0.0.1:4222", "-url-file", "/tmp/x"},
		{"-nats", "nats://127.0.0.1:4222", "-listen", "0.0.0.0:4222"},
	} {
		_, err := parseFlags(args)
		require.Error(t, err, "%q", args)
		assert.Contains(t, err.Error(), "-listen and -url-file are for the server this process starts: not with -nats")
	}
	for _, args := range [][]string{
		{"-nats", "nats://127.0.0.1:4222"},
		{"-url-file", "/tmp/x", "-listen", "127.0.0.1:0"},
	} {
		_, err := parseFlags(args)
		assert.NoError(t, err, "%q", args)
	}
}
