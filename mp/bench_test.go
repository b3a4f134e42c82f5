package mp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The floors: what two processes can do with nothing but the kernel, blocking
// system calls on raw descriptors and 8-byte payloads. The library's
// benchmarks are judged against these, measured in the same run:
//
//	go test -run '^$' -bench 'RoundTrip|Call|Sync|Eventfd' -count 5 ./mp

// rawEcho is the child of the floor benchmarks: it answers every 8 bytes on
// fd 3 with 8 bytes on fd 4, until fd 3 ends.
func rawEcho(mode string) int {
	if mode == rawFramed || mode == rawFramedCtx || mode == rawFramedEvent {
		return framedEcho(mode) // the framed floors' echo
	}
	if mode == rawFutex {
		return futexEcho()
	}
	if strings.HasPrefix(mode, rawAnswerThenWork) {
		return answerThenWorkEcho(mode)
	}
	if mode == "hog" {
		//lint:ignore SA5002 a CPU-bound competitor for BenchmarkUnderLoad: spinning is its job
		for {
		}
	}
	var buf [8]byte
	if mode == "ppoll" {
		unix.SetNonblock(3, true)
		efd, _ := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		for {
			if err := pollRead(3, efd, buf[:]); err != nil {
				return 0
			}
			if _, err := unix.Write(4, buf[:]); err != nil {
				return 0
			}
		}
	}
	if mode == "gopipe" {
		// The same echo through the Go runtime's poller, as the library
		// reads and writes.
		unix.SetNonblock(3, true)
		unix.SetNonblock(4, true)
		in, out := os.NewFile(3, "in"), os.NewFile(4, "out")
		for {
			if _, err := io.ReadFull(in, buf[:]); err != nil {
				return 0
			}
			if _, err := out.Write(buf[:]); err != nil {
				return 0
			}
		}
	}
	for {
		if n, err := unix.Read(3, buf[:]); err != nil || n == 0 {
			return 0
		}
		if mode == "eventfd" {
			buf = [8]byte{1}
		}
		if _, err := unix.Write(4, buf[:]); err != nil {
			return 0
		}
	}
}

// startRaw starts the raw echo child on the descriptors toChild and
// fromChild (the child's ends) and returns a function that stops it, and
// its PID.
func startRaw(b testing.TB, mode string, toChild, fromChild int) (func(), int) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envRaw+"="+mode)
	if toChild >= 0 {
		// The child gets duplicates, closed here once it has them: an
		// *os.File over the caller's own descriptors would close them
		// again when the garbage collector finalized it, whatever those
		// numbers were by then (another pipe, which lost its data).
		for _, fd := range []int{toChild, fromChild} {
			d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			require.NoError(b, err)
			f := os.NewFile(uintptr(d), "raw")
			defer f.Close()
			cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(b, cmd.Start())
	return func() {
		cmd.Process.Kill()
		cmd.Wait()
	}, cmd.Process.Pid
}

func readFull(fd int, buf []byte) error {
	for got := 0; got < len(buf); {
		n, err := unix.Read(fd, buf[got:])
		if err != nil {
			return err
		}
		if n == 0 {
			return io.EOF
		}
		got += n
	}
	return nil
}

// BenchmarkRawPipeRoundTrip is the floor for messages: 8 bytes there and back
// over two pipes.
func BenchmarkRawPipeRoundTrip(b *testing.B) {
	w, r, pid, stop := rawEchoPipes(b, "pipe", 0)
	defer stop()
	buf := []byte("12345678")
	defer measureCPU(b, pid)()
	for b.Loop() {
		if _, err := unix.Write(w, buf); err != nil {
			b.Fatal(err)
		}
		if err := readFull(r, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// rawEchoPipes starts the raw echo child in mode on two new pipes, and
// returns our ends (w to the child, r from it), its PID, and what closes our
// ends and stops it. upFlags are added to the flags of the pipe from it.
func rawEchoPipes(tb testing.TB, mode string, upFlags int) (w, r, pid int, stop func()) {
	var down, up [2]int
	require.NoError(tb, unix.Pipe2(down[:], unix.O_CLOEXEC))
	require.NoError(tb, unix.Pipe2(up[:], unix.O_CLOEXEC|upFlags))
	stopChild, pid := startRaw(tb, mode, down[0], up[1])
	unix.Close(down[0])
	unix.Close(up[1])
	return down[1], up[0], pid, func() {
		unix.Close(down[1])
		unix.Close(up[0])
		stopChild()
	}
}

// BenchmarkGoPipeRoundTrip is BenchmarkRawPipeRoundTrip through *os.File
// on both sides, that is through the Go runtime's poller: the floor for any
// Go code that reads pipes the idiomatic way, and what the library builds on.
func BenchmarkGoPipeRoundTrip(b *testing.B) {
	downR, downW, err := os.Pipe()
	require.NoError(b, err)
	upR, upW, err := os.Pipe()
	require.NoError(b, err)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envRaw+"=gopipe")
	cmd.ExtraFiles = []*os.File{downR, upW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(b, cmd.Start())
	defer cmd.Wait()
	downR.Close()
	upW.Close()
	defer upR.Close()
	defer downW.Close()
	buf := []byte("12345678")
	for b.Loop() {
		if _, err := downW.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(upR, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawEventfdRoundTrip is the floor for events: one eventfd each way.
func BenchmarkRawEventfdRoundTrip(b *testing.B) {
	down, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	require.NoError(b, err)
	up, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	require.NoError(b, err)
	stop, pid := startRaw(b, "eventfd", down, up)
	defer stop()
	one := [8]byte{1}
	var buf [8]byte
	defer measureCPU(b, pid)()
	for b.Loop() {
		if _, err := unix.Write(down, one[:]); err != nil {
			b.Fatal(err)
		}
		if _, err := unix.Read(up, buf[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// measureCPU reports, as "cpu-µs/op", the CPU time (user + system) that
// this process and the backend pid spent from now until the returned
// function is called, per iteration: what the speed costs.
func measureCPU(b *testing.B, pid int) func() {
	self0, back0 := selfCPU(), procCPU(pid)
	return func() {
		total := selfCPU() - self0 + procCPU(pid) - back0
		b.ReportMetric(float64(total.Microseconds())/float64(b.N), "cpu-µs/op")
	}
}

func selfCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime + stime of pid from /proc (in clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

var benchSeq atomic.Int32

// benchEnv is the backend's extra environment: MP_BENCH_ENV, e.g.
// "GOMAXPROCS=1", to compare settings in one run.
func benchEnv() []string {
	if v := os.Getenv("MP_BENCH_ENV"); v != "" {
		return strings.Fields(v)
	}
	return nil
}

func startBench(b *testing.B, opts Options) *Process {
	opts.Name = "bench-" + strconv.Itoa(int(benchSeq.Add(1)))
	p, err := testKind.Start(context.Background(), opts)
	require.NoError(b, err)
	b.Cleanup(func() { p.Close() })
	// The first message pays for the backend's start-up: keep it out.
	_, err = p.Call(context.Background(), "pid", nil)
	require.NoError(b, err)
	return p
}

// BenchmarkRoundTrip sends a message to the backend, which sends it back;
// the frontend receives it from Messages.
func BenchmarkRoundTrip(b *testing.B) {
	roundTrip(b, func(p *Process, ctx context.Context) (Message, error) { return <-p.Messages(), nil })
}

// roundTrip is a round trip's benchmark: a Send of "echo", which the
// backend sends back, received by recv.
func roundTrip(b *testing.B, recv func(*Process, context.Context) (Message, error)) {
	p := startBench(b, Options{Env: benchEnv()})
	ctx := context.Background()
	params := Params{"x": 1}
	defer measureCPU(b, p.Pid())()
	for b.Loop() {
		if err := p.Send(ctx, "echo", params); err != nil {
			b.Fatal(err)
		}
		if m, err := recv(p, ctx); err != nil || m.Command != "echo" {
			b.Fatalf("got %q, %v", m.Command, err)
		}
	}
}

// BenchmarkCall is a Call whose handler replies with the parameters it got.
func BenchmarkCall(b *testing.B) {
	p := startBench(b, Options{Env: benchEnv()})
	ctx := context.Background()
	params := Params{"x": 1}
	defer measureCPU(b, p.Pid())()
	for b.Loop() {
		if _, err := p.Call(ctx, "echo", params); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSync is ping2's pattern: make an event, send its ID, the backend
// sets it, the wait returns.
func BenchmarkSync(b *testing.B) {
	p := startBench(b, Options{Events: 4, Env: benchEnv()})
	ctx := context.Background()
	defer measureCPU(b, p.Pid())()
	for b.Loop() {
		ev, err := p.NewEvent()
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Send(ctx, "set", Params{"event": ev.ID()}); err != nil {
			b.Fatal(err)
		}
		if err := ev.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		ev.Close()
	}
}

// BenchmarkCallParallel runs Calls on 8 backends at once from 8 goroutines:
// more busy process pairs than this machine has CPUs, where polling a pipe
// before sleeping must not cost throughput (compare with MP_SPIN=0).
func BenchmarkCallParallel(b *testing.B) {
	const pairs = 8
	procs := make(chan *Process, pairs)
	for range pairs {
		procs <- startBench(b, Options{Env: benchEnv()})
	}
	ctx := context.Background()
	params := Params{"x": 1}
	b.SetParallelism((pairs + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		p := <-procs
		for pb.Next() {
			if _, err := p.Call(ctx, "echo", params); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkUnderLoad runs the floors and the library's round trips while
// two CPU-bound processes compete for the CPUs, as the workers of a busy
// manager do; compare each with its floor measured under the same load:
//
//	go test -run '^$' -bench UnderLoad -count 3 ./mp
func BenchmarkUnderLoad(b *testing.B) {
	for range 2 {
		stop, _ := startRaw(b, "hog", -1, -1)
		defer stop()
	}
	b.Run("RawPipeRoundTrip", BenchmarkRawPipeRoundTrip)
	b.Run("RawPollReadRoundTrip", BenchmarkRawPollReadRoundTrip)
	b.Run("Call", BenchmarkCall)
	b.Run("RecvRoundTrip", BenchmarkRecvRoundTrip)
	b.Run("RawEventfdRoundTrip", BenchmarkRawEventfdRoundTrip)
	b.Run("Sync", BenchmarkSync)
}
