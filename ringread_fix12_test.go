package chapters_test

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRingReadPythonAfterDrops reads the ring the stream chapter keeps
// under each drop policy. The camera numbers frames by attempt, so after a
// drop a frame's number is above its place in the ring: aux/ring_read.py
// must find every frame right (numbers going up, pixels matching the
// frame's own number) and exit 0.
// Fault: frames dropped before those left in the ring; the old script
// wanted number == ring position and called every later frame WRONG.
func TestRingReadPythonAfterDrops(t *testing.T) {
	py := numpyPython()
	if py == "" {
		t.Skip("skipped: no Python with numpy (tried /usr/bin/python3, then python3 on the PATH); apt-get install python3-numpy")
	}
	header := regexp.MustCompile(`^ring \S+: 2 slots of 9248 bytes, policy (\S+), (\d+) frames committed, (\d+) dropped, closed\n`)
	frame := regexp.MustCompile(`(?m)^frame (\d+): \(48, 64, 3\) uint8, first pixel \[\d+, \d+, \d+\], (.*)$`)
	for _, policy := range []string{"drop-newest", "drop-oldest"} {
		t.Run(policy, func(t *testing.T) {
			// 20,000 frames through 2 slots: the camera fills the ring
			// faster than the frontend checks frames, so some are dropped;
			// a run without a drop shows nothing and is run again.
			for run := 1; ; run++ {
				segment, end := keptRing(t, "-slots", "2", "-frames", "20000", "-policy", policy)
				read, err := exec.Command(py, "aux/ring_read.py", segment, "--width", "64", "--height", "48").CombinedOutput()
				end()
				got := string(read)
				m := header.FindStringSubmatch(got)
				require.NotNil(t, m, "%s", got)
				require.Equal(t, policy, m[1])
				if m[3] == "0" && run < 5 {
					t.Logf("run %d: no frame dropped, again", run)
					continue
				}
				require.NotEqual(t, "0", m[3], "5 runs without a drop")
				require.NoError(t, err, "%s", got)
				frames := frame.FindAllStringSubmatch(got, -1)
				require.NotEmpty(t, frames, "%s", got)
				last := -1
				for _, f := range frames {
					n, err := strconv.Atoi(f[1])
					require.NoError(t, err)
					assert.Greater(t, n, last, "%s", got)
					assert.Less(t, n, 20000, "%s", got)
					assert.Equal(t, "pixels ok", f[2], "%s", got)
					last = n
				}
				return
			}
		})
	}
}

// TestRingReadRefusesAScribbledHeader copies a ring the stream chapter
// kept, scribbles on the copy's header, and runs aux/ring_read.py on it:
// the script must refuse the header as mp/shm's OpenRing does (ErrNotRing),
// with one line saying why and exit status 3, and read no frame.
// Fault: a header whose geometry no longer matches its slot size (stride
// below the slot size with the segment's size kept; slot size above the
// stride with a slot's length to match). The old script checked neither:
// it read slots across their neighbours (and said "overwritten", exit 0)
// or ran past the segment (a traceback).
func TestRingReadRefusesAScribbledHeader(t *testing.T) {
	py := numpyPython()
	if py == "" {
		t.Skip("skipped: no Python with numpy (tried /usr/bin/python3, then python3 on the PATH); apt-get install python3-numpy")
	}
	segment, end := keptRing(t, "-slots", "2", "-frames", "20")
	ring, err := os.ReadFile(filepath.Join("/dev/shm", segment))
	require.NoError(t, err)
	end()
	// The offsets are those of mp/shm's package documentation.
	const slotSize, slots, stride, data = 16, 24, 32, 4096
	le := binary.LittleEndian
	require.Equal(t, uint64(9248), le.Uint64(ring[slotSize:]))
	require.Equal(t, uint64(2), le.Uint64(ring[slots:]))
	require.Equal(t, uint64(9280), le.Uint64(ring[stride:]))
	require.Len(t, ring, data+2*9280)

	for _, tc := range []struct {
		name     string
		scribble func(h []byte)
	}{
		{"stride below the slot size", func(h []byte) {
			le.PutUint64(h[slots:], 4) // 4 slots of half the stride: the same segment size
			le.PutUint64(h[stride:], 9280/2)
		}},
		{"slot size above the stride", func(h []byte) {
			le.PutUint64(h[slotSize:], 1<<20)
			le.PutUint64(h[data+9280+8:], 1<<20) // the last slot's length
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := append([]byte(nil), ring...)
			tc.scribble(h)
			path := filepath.Join(t.TempDir(), "scribbled")
			require.NoError(t, os.WriteFile(path, h, 0o600))
			cmd := exec.Command(py, "aux/ring_read.py", path, "--width", "64", "--height", "48")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "%s", out)
			assert.Equal(t, 3, ee.ExitCode(), "%s", out)
			assert.Regexp(t, `^ring_read\.py: not a ring: header says \d+ slots of \d+ bytes \(stride \d+, want \d+; data at 4096, want 4096\), the segment has 22656 bytes\n$`, string(out))
		})
	}
}
