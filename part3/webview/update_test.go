package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// updateJSON is update as it was first written, through encoding/json:
// what update must still send, and its benchmark's reference.
func updateJSON(seen, f *frame) []byte {
	changed := map[string]cell{}
	for i, c := range f.Cells {
		if seen == nil || seen.Cells[i] != c {
			changed[strconv.Itoa(i)] = c
		}
	}
	b, _ := json.Marshal(struct {
		Seq     int             `json:"seq"`
		Done    int             `json:"done"`
		Bad     int             `json:"failed"`
		Queue   int             `json:"queued"`
		Full    bool            `json:"full"`
		Workers int             `json:"workers"`
		Cells   map[string]cell `json:"cells"`
	}{f.Seq, f.Done, f.Bad, f.Queue, seen == nil, len(f.Cells), changed})
	return fmt.Appendf(nil, "data: %s\n\n", b)
}

// frames returns two frames of n workers: in the second, every worker
// whose index is a multiple of every has changed.
func frames(n, every int) (seen, f *frame) {
	seen = &frame{Seq: 6, Cells: make([]cell, n), Done: 110, Bad: 2, Queue: 40}
	f = &frame{Seq: 7, Cells: make([]cell, n), Done: 120, Bad: 3, Queue: 30}
	for i := range n {
		seen.Cells[i] = cell{State: "idle", Pid: 100000 + i, Done: 37}
		f.Cells[i] = seen.Cells[i]
		if i%every == 0 {
			f.Cells[i] = cell{State: "busy", Pid: 100000 + i, Done: 38}
		}
	}
	f.Cells[n-1] = cell{State: "exited"}
	return seen, f
}

// The event update writes by hand says what encoding/json said: the same
// JSON values (the order of the cells' keys aside), for a first event and
// for a difference, and one line of data.
func TestUpdateIsTheJSONOfBefore(t *testing.T) {
	decode := func(b []byte) map[string]any {
		data, ok := strings.CutPrefix(string(b), "data: ")
		require.True(t, ok, "%q", b)
		data, ok = strings.CutSuffix(data, "\n\n")
		require.True(t, ok, "%q", b)
		require.NotContains(t, data, "\n")
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(data), &v), data)
		return v
	}
	seen, f := frames(1000, 3)
	for _, tc := range []struct {
		name       string
		seen       *frame
		cells      int
		stateCells map[string]string
	}{
		{"first", nil, 1000, map[string]string{"0": "busy", "1": "idle", "999": "exited"}},
		{"difference", seen, 334, map[string]string{"0": "busy", "3": "busy", "999": "exited"}},
		{"nothing changed", f, 0, nil},
	} {
		got, want := decode(update([]byte("left over"), tc.seen, f)[len("left over"):]), decode(updateJSON(tc.seen, f))
		assert.Equal(t, want, got, tc.name)
		assert.Len(t, got["cells"], tc.cells, tc.name)
		for i, state := range tc.stateCells {
			assert.Equal(t, state, got["cells"].(map[string]any)[i].(map[string]any)["state"], "%s: cell %s", tc.name, i)
		}
	}
}

// BenchmarkUpdate: one event of 1,000 workers that all changed, as update
// writes it, as encoding/json did, and the floor: copying as many bytes.
// Ratios to the floor:
//
//	go test -run '^$' -bench Update -count 5 ./part3/webview
func BenchmarkUpdate(b *testing.B) {
	seen, f := frames(1000, 1)
	ref := updateJSON(seen, f)
	var buf []byte
	b.Run("floor=copy", func(b *testing.B) {
		b.SetBytes(int64(len(ref)))
		for b.Loop() {
			buf = append(buf[:0], ref...)
		}
	})
	b.Run("update", func(b *testing.B) {
		b.SetBytes(int64(len(ref)))
		b.ReportAllocs()
		for b.Loop() {
			buf = update(buf[:0], seen, f)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(ref)))
		b.ReportAllocs()
		for b.Loop() {
			buf = updateJSON(seen, f)
		}
	})
}
