package shm

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// runRingBench is the helper's side of the benchmarks: it produces into
// the ring on files 3 to 5 as told on stdin, and answers each command with
// its name once done.
func runRingBench() int {
	r, err := OpenRing(os.NewFile(3, "ring"), os.NewFile(4, "data"), os.NewFile(5, "space"))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer r.Close()
	words, err := OpenFile[int64](os.NewFile(6, "pingpong"), benchWords)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	p, err := r.Producer()
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ready")
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return 0
		}
		f := strings.Fields(line)
		args := make([]int, len(f)-1)
		for i := range args {
			args[i], _ = strconv.Atoi(f[i+1])
		}
		if err := benchCommand(p, words, in, f[0], args); err != nil {
			fmt.Println("error:", err)
			return 1
		}
	}
}

func benchCommand(p *Producer, words *Array[int64], in *bufio.Reader, cmd string, args []int) error {
	ctx := context.Background()
	switch cmd {
	case "frames": // n frames, each filled in place
		for i := range args[0] {
			f, err := p.Reserve(ctx)
			if err != nil {
				return err
			}
			fillBlocks(f, byte(i|1))
			p.Commit(len(f))
		}
	case "msgs": // n 64-byte messages, numbered
		for i := range args[0] {
			f, err := p.Reserve(ctx)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint64(f, uint64(i))
			p.Commit(64)
		}
	case "stamped": // n messages stamped with the clock, gap ns after each was acknowledged
		for i := range args[0] {
			awaitAck(words, i, args[1])
			f, err := p.Reserve(ctx)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint64(f, monoNow())
			p.Commit(8)
		}
	case "stampedline": // the same stamps, stored into a word of the shared array: the floor
		line := (*atomic.Uint64)(unsafe.Pointer(&words.Data()[stampWord]))
		for i := range args[0] {
			awaitAck(words, i, args[1])
			line.Store(monoNow())
		}
	case "stampedpipe": // the same stamps, written to stdout: a sleeping reader's floor
		if err := stampsToStdout(words, args[0], args[1]); err != nil {
			return err
		}
	case "lines": // n numbers into bare cache lines, args[1] to a line, in the order of step args[2]: the floor
		produceLines(words.Data(), args[0], args[1], args[2])
	case "pingpong":
		w := (*atomic.Uint64)(unsafe.Pointer(&words.Data()[pingWord]))
		fmt.Println("pingpong")
		for i := uint64(0); i < uint64(args[0]); i++ {
			for w.Load() != 2*i+1 {
			}
			w.Store(2*i + 2)
		}
		return nil
	case "cpu": // the CPU time this process used, in ns
		fmt.Println("cpu", processCPU())
		return nil
	case "echo":
		fmt.Println("echo")
		for range args[0] {
			c, err := in.ReadByte()
			if err != nil {
				return err
			}
			os.Stdout.Write([]byte{c})
		}
		return nil
	case "pipeframes": // n 1 MiB frames through stdout
		buf := make([]byte, 1<<20)
		for i := range args[0] {
			fillBlocks(buf, byte(i|1))
			if _, err := os.Stdout.Write(buf); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	fmt.Println(cmd)
	return nil
}

// stampsToStdout writes n clock stamps to stdout, each gap nanoseconds
// after the one before was acknowledged (see awaitAck).
func stampsToStdout(words *Array[int64], n, gap int) error {
	var buf [8]byte
	for i := range n {
		awaitAck(words, i, gap)
		binary.LittleEndian.PutUint64(buf[:], monoNow())
		if _, err := os.Stdout.Write(buf[:]); err != nil {
			return err
		}
	}
	return nil
}

// awaitAck returns gap nanoseconds after the consumer acknowledged message
// i-1 (the word at ackWord reads i). It spins on the acknowledgement
// without yielding: runtime.Gosched wakes an idle P's thread every time
// (wakep), a third thread that takes a CPU on this two-CPU machine. A gap
// under 100 µs is spun too, a longer one slept.
func awaitAck(words *Array[int64], i, gap int) {
	ack := (*atomic.Uint64)(unsafe.Pointer(&words.Data()[ackWord]))
	for ack.Load() != uint64(i) {
	}
	if gap := time.Duration(gap); gap >= 100*time.Microsecond {
		time.Sleep(gap)
		return
	}
	for start := monoNow(); monoNow()-start < uint64(gap); {
	}
}
