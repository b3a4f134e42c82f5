package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestMeterOnATerminal: on a terminal, each phase's progress line is drawn
// in place (a carriage return, the text, the end of the line cleared), and
// the phase's own line replaces it and ends it.
func TestMeterOnATerminal(t *testing.T) {
	var out bytes.Buffer
	m := &meter{w: &out, tty: true}
	m.progress("starting: %d/%d", 1, 3)
	m.progress("starting: %d/%d", 2, 3) // within a tenth of a second: not drawn
	m.line("all ready: %.3f s", 0.5)
	m.progress("fan-in: %d/%d", 4096, 3000000) // a new phase: drawn at once
	m.line("fan-in: done")
	m.line("PSS: 1 MiB") // no progress line to clear
	assert.Equal(t, "\rstarting: 1/3\033[K\r\033[Kall ready: 0.500 s\n"+
		"\rfan-in: 4096/3000000\033[K\r\033[Kfan-in: done\n"+
		"PSS: 1 MiB\n", out.String())
}

// TestMeterIntoAPipe: into a pipe or a file, the phases' lines only.
func TestMeterIntoAPipe(t *testing.T) {
	var out bytes.Buffer
	m := &meter{w: &out}
	m.progress("starting: %d/%d", 1, 3)
	m.line("all ready: %.3f s", 0.5)
	m.progress("fan-in: %d/%d", 4096, 3000000)
	m.line("fan-in: done")
	assert.Equal(t, "all ready: 0.500 s\nfan-in: done\n", out.String())
}
