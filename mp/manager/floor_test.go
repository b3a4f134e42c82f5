package manager_test

import (
	"encoding/binary"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// The fan-in floor: plain processes of this test binary, no library in
// between, each writing small frames into a raw pipe of its own, one
// write(2) per frame, and one reader draining every pipe through epoll. It
// is what the kernel allows the manager's fan-in to reach.

// floorFrame is the size of a frame on the floor's pipes, length prefix
// included: what the manager's benchmark sends (a 4-byte length and a
// command "tick" with no parameters) comes to about as much.
const floorFrame = 16

// envFloorWriter makes this test binary a floor writer (see TestMain):
// for each byte read from stdin, it writes that many thousand frames to
// fd 3; it exits at the end of stdin.
const envFloorWriter = "MP_TEST_FLOOR_WRITER"

// floorWriter is the body of a floor writer process.
func floorWriter() int {
	frame := make([]byte, floorFrame)
	binary.LittleEndian.PutUint32(frame, floorFrame-4)
	per, _ := strconv.Atoi(os.Getenv(envFloorWriter))
	cmd := make([]byte, 1)
	for {
		if n, _ := os.Stdin.Read(cmd); n == 0 {
			return 0
		}
		for range per {
			if _, err := unix.Write(3, frame); err != nil {
				return 1
			}
		}
	}
}

// floorFanIn runs n writers, each sending per frames per round, and
// returns a function that runs one round and the function that ends them.
func floorFanIn(b *testing.B, n, per int) (round func(), stop func()) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	var (
		triggers []*os.File
		pipes    []*os.File
		reads    []int
		cmds     []*exec.Cmd
	)
	for i := range n {
		trigger, r, fd, cmd := startFloorWriter(b, ep, i, per)
		triggers = append(triggers, trigger)
		pipes = append(pipes, r)
		reads = append(reads, fd)
		cmds = append(cmds, cmd)
	}
	rest := make([]int, n) // bytes of a frame begun on each pipe
	buf := make([]byte, 64<<10)
	events := make([]unix.EpollEvent, 128)
	round = func() {
		for _, t := range triggers {
			t.Write([]byte{1})
		}
		frames := 0
		for frames < n*per {
			k, err := unix.EpollWait(ep, events, -1)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			for _, ev := range events[:k] {
				i := int(ev.Fd)
				for {
					got, err := unix.Read(reads[i], buf)
					if got <= 0 || err != nil {
						break
					}
					whole := (rest[i] + got) / floorFrame
					rest[i] = (rest[i] + got) % floorFrame
					frames += whole
				}
			}
		}
	}
	stop = func() {
		for _, t := range triggers {
			t.Close()
		}
		for _, c := range cmds {
			c.Wait()
		}
		for _, f := range pipes {
			f.Close()
		}
		unix.Close(ep)
	}
	return round, stop
}

// startFloorWriter starts writer i, which sends per frames each time a byte
// comes on its trigger, and adds the read end r of its pipe, descriptor fd,
// to the epoll set ep, non-blocking, with i as its data. (Do not call r.Fd
// again: it would make the descriptor blocking.)
func startFloorWriter(b *testing.B, ep, i, per int) (trigger, r *os.File, fd int, cmd *exec.Cmd) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd = exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envFloorWriter+"="+strconv.Itoa(per))
	cmd.ExtraFiles = []*os.File{w}
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w.Close()
	fd = int(r.Fd())
	unix.SetNonblock(fd, true)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		b.Fatal(err)
	}
	return in.(*os.File), r, fd, cmd
}

// fanInFloor is BenchmarkFanIn's floor with n workers.
func fanInFloor(b *testing.B, n, per int) {
	round, stop := floorFanIn(b, n, per)
	defer stop()
	for b.Loop() {
		round()
	}
	b.ReportMetric(float64(n*per)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
