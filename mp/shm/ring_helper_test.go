package shm

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// The cross-process ring tests run the test binary again as the other side
// (see TestMain): it opens the ring from files 3, 4 and 5, and does what
// its mode says. RING_FRAMES is a number of frames. It prints "ready" once
// its side is taken; modes that kill themselves wait for a line on stdin
// first, so that the test decides when.
//
//	ringproduce      produces RING_FRAMES test frames, closes, exits 0
//	ringproducekill  commits RING_FRAMES frames, reserves one more and
//	                 half writes it, then (on stdin) SIGKILLs itself
//	ringconsumekill  takes the consumer side, then (on stdin) SIGKILLs itself
//	ringconsume      consumes and checks test frames until EOF, prints
//	                 "consumed <n>", exits 0
func runRingHelper(mode string) int {
	if mode == "ringbench" {
		return runRingBench()
	}
	r, err := OpenRing(os.NewFile(3, "ring"), os.NewFile(4, "data"), os.NewFile(5, "space"))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer r.Close()
	frames, _ := strconv.Atoi(os.Getenv("RING_FRAMES"))
	stdin := bufio.NewReader(os.Stdin)
	fail := func(err error) int { fmt.Println("error:", err); return 1 }
	switch mode {
	case "ringproduce", "ringproducekill":
		p, err := r.Producer()
		if err != nil {
			return fail(err)
		}
		fmt.Println("ready")
		rnd := rand.New(rand.NewPCG(1, 2))
		for i := range frames {
			if _, err := p.Write(testFrame(rnd, uint64(i), r.SlotSize)); err != nil {
				return fail(err)
			}
		}
		if mode == "ringproduce" {
			if err := p.Close(); err != nil {
				return fail(err)
			}
			return 0
		}
		buf, err := p.Reserve(context.Background())
		if err != nil {
			return fail(err)
		}
		copy(buf, testFrame(rnd, uint64(frames), r.SlotSize)[:len(buf)/2])
		stdin.ReadString('\n')
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	case "ringconsumekill":
		if _, err := r.Consumer(); err != nil {
			return fail(err)
		}
		fmt.Println("ready")
		stdin.ReadString('\n')
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	case "ringconsume":
		c, err := r.Consumer()
		if err != nil {
			return fail(err)
		}
		fmt.Println("ready")
		n := 0
		for ; ; n++ {
			f, err := c.Next(context.Background())
			if err == io.EOF {
				break
			}
			if err != nil {
				return fail(err)
			}
			if err := checkTestFrame(f, uint64(n)); err != nil {
				return fail(err)
			}
			c.Release()
		}
		fmt.Println("consumed", n)
		return 0
	}
	fmt.Println("unknown helper", mode)
	return 2
}

// A test frame: its number (uint64), a CRC-32C of the rest (uint32), then
// random bytes; its length is random too, from 12 bytes to max.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func testFrame(rnd *rand.Rand, n uint64, max int) []byte {
	f := make([]byte, 12+rnd.IntN(max-11))
	for i := 12; i < len(f); i++ {
		f[i] = byte(rnd.Uint32())
	}
	binary.LittleEndian.PutUint64(f, n)
	binary.LittleEndian.PutUint32(f[8:], crc32.Checksum(f[12:], castagnoli))
	return f
}

func checkTestFrame(f []byte, want uint64) error {
	if len(f) < 12 {
		return fmt.Errorf("frame %d: %d bytes", want, len(f))
	}
	if n := binary.LittleEndian.Uint64(f); n != want {
		return fmt.Errorf("frame %d instead of %d", n, want)
	}
	if crc32.Checksum(f[12:], castagnoli) != binary.LittleEndian.Uint32(f[8:]) {
		return fmt.Errorf("frame %d: bad checksum", want)
	}
	return nil
}

// ringHelper is the other process of a cross-process test.
type ringHelper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// startRingHelper starts the helper in mode on r's files, and waits for its
// "ready".
func startRingHelper(t *testing.T, r *Ring, mode string, frames int) *ringHelper {
	t.Helper()
	files, err := r.Files()
	require.NoError(t, err)
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, "RING_FRAMES="+strconv.Itoa(frames))
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	h := &ringHelper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	require.Equal(t, "ready", h.line(), "the helper's first line")
	return h
}

// line returns the helper's next line of output, "" at its end.
func (h *ringHelper) line() string {
	if h.out.Scan() {
		return h.out.Text()
	}
	return ""
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
