package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// scaleFloor starts n plain processes of this binary (-scale-floor-child),
// at most concurrency at a time, waits until each has written its byte,
// then closes their stdin and waits for them all: -scale's floor. It
// returns the time to all ready and the time to all stopped, drawing its
// progress on out.
func scaleFloor(n, concurrency int, out *meter) (ready, stopped time.Duration, err error) {
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
	}
	children := make([]child, n)
	defer func() { // on a failure, whatever runs goes
		for _, c := range children {
			if c.stdin != nil {
				c.stdin.Close()
			}
			if c.cmd != nil && c.cmd.Process != nil && c.cmd.ProcessState == nil {
				c.cmd.Wait()
			}
		}
	}()
	begin := time.Now()
	slots := make(chan struct{}, concurrency)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	var running atomic.Int64
	for i := range children {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			cmd := exec.Command("/proc/self/exe", "-"+floorChildFlag)
			cmd.Env = append(os.Environ(), workerEnv...) // as the workers run
			in, err := cmd.StdinPipe()
			if err != nil {
				errs <- err
				return
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				errs <- err
				return
			}
			if err := cmd.Start(); err != nil {
				errs <- err
				return
			}
			children[i] = child{cmd, in}
			if _, err := io.ReadFull(stdout, make([]byte, 1)); err != nil {
				errs <- fmt.Errorf("floor process %d: %w", i, err)
				return
			}
			out.progress("floor:         %d/%d plain processes ready", running.Add(1), n)
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	ready = time.Since(begin)
	begin = time.Now()
	for _, c := range children {
		c.stdin.Close()
	}
	for i, c := range children {
		c.cmd.Wait()
		out.progress("floor:         %d/%d plain processes stopped", i+1, n)
	}
	return ready, time.Since(begin), nil
}

// floorChild is a process of the floor: one byte to say it runs, then it
// waits for the end of its stdin.
func floorChild() {
	os.Stdout.Write([]byte{1})
	io.Copy(io.Discard, os.Stdin)
}
