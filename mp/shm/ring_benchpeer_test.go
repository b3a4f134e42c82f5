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
	case "stamped", "stampedline":
		return stamps(p, words, cmd, args)
	case "stampedpipe": // the same stamps, written to stdout: a sleeping reader's floor
		if err := stampsToStdout(words, args[0], args[1]); err != nil {
			return err
		}
	case "lines": // n numbers into bare cache lines, args[1] to a line, in the order of step args[2]: the floor
		produceLines(words.Data(), args[0], args[1], args[2])
	case "pingpong": // n rounds, answered in the word args[1] (pingWord: the same line)
		r := (*atomic.Uint64)(unsafe.Pointer(&words.Data()[pingWord]))
		w := (*atomic.Uint64)(unsafe.Pointer(&words.Data()[args[1]]))
		fmt.Println("pingpong")
		for i := uint64(0); i < uint64(args[0]); i++ {
			for r.Load() != 2*i+1 {
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

// stamps answers "stamped" (n messages through the ring, stamped with the
// clock, each gap ns after the one before was acknowledged) and
// "stampedline" (the same stamps stored into bare words of the shared
// array instead, stampLine with step args[2]: the floors), with the round
// trips' figures (see roundTrips).
func stamps(p *Producer, words *Array[int64], cmd string, args []int) error {
	var rts roundTrips
	d := words.Data()
	for i := range args[0] {
		rts.acked(awaitAck(words, i, args[1]))
		if cmd == "stampedline" {
			w := stampLine(d, i, args[2])
			rts.stamp = monoNow()
			storeRelease((*uint64)(unsafe.Pointer(w)), rts.stamp)
			continue
		}
		f, err := p.Reserve(context.Background())
		if err != nil {
			return err
		}
		rts.stamp = monoNow()
		binary.LittleEndian.PutUint64(f, rts.stamp)
		p.Commit(8)
	}
	rts.acked(awaitAck(words, args[0], 0))
	fmt.Println(cmd, rts.figures())
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
// i-1 (the word at ackWord reads i), with the clock's reading when it saw
// the acknowledgement. It spins on the acknowledgement without yielding:
// runtime.Gosched wakes an idle P's thread every time (wakep), a third
// thread that takes a CPU on this two-CPU machine. A gap under 100 µs is
// spun too, a longer one slept.
func awaitAck(words *Array[int64], i, gap int) uint64 {
	ack := (*atomic.Uint64)(unsafe.Pointer(&words.Data()[ackWord]))
	for ack.Load() != uint64(i) {
	}
	seen := monoNow()
	if gap := time.Duration(gap); gap >= 100*time.Microsecond {
		time.Sleep(gap) // the benchmark's pace between messages, not a synchronization
		return seen
	}
	for monoNow()-seen < uint64(gap) {
	}
	return seen
}

// roundTrips collects, on the helper's side, the time from each stamp to
// the consumer's acknowledgement of it: a round trip timed by one clock on
// one CPU.
type roundTrips struct {
	stamp uint64   // the last stamp sent, 0 before the first
	rt    []uint64 // the round trips so far
}

// acked records the acknowledgement, seen at the clock's reading now, of
// the last stamp.
func (r *roundTrips) acked(now uint64) {
	if r.stamp != 0 {
		r.rt = append(r.rt, now-r.stamp)
	}
}

// figures are the round trips' median and trimmed mean (see trimmedMean),
// for the command's answer.
func (r *roundTrips) figures() string {
	if len(r.rt) == 0 {
		return "0 0"
	}
	return fmt.Sprintf("%d %.1f", percentile(r.rt, 0.5), trimmedMean(r.rt))
}
