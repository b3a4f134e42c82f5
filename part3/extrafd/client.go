package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"
)

// runClient is the -client mode: it sends each line to the server at addr
// (or at the address written in file, for "@file"), and prints each
// answer. With no lines it reads them from stdin. It returns the exit
// status: 1 if the server cannot be reached or closes before answering.
func runClient(addr string, lines []string, stdin io.Reader, stdout io.Writer) int {
	if file, ok := strings.CutPrefix(addr, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, "extrafd:", err)
			return 1
		}
		addr = strings.TrimSpace(string(b))
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "extrafd:", err)
		return 1
	}
	defer c.Close()
	if len(lines) == 0 {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
	}
	in := bufio.NewReader(c)
	for _, l := range lines {
		answer, err := exchange(c, in, l)
		if err != nil {
			fmt.Fprintf(stdout, "connection closed: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, answer)
	}
	return 0
}

// exchange sends one line and reads the one-line answer.
func exchange(c net.Conn, in *bufio.Reader, line string) (string, error) {
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	answer, err := in.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(answer, "\n"), nil
}

// runDemo is the -demo mode's client: a short conversation with the server,
// printed as it goes, then the end of the run (as a Ctrl-C would). Once
// ctx is done (Ctrl-C: the program is stopping under it), a failed
// exchange is the stop's doing, not the server's: it ends without a word.
func runDemo(ctx context.Context, addr string, stop context.CancelFunc, log *slog.Logger) {
	defer stop()
	fail := func(err error) {
		if ctx.Err() == nil {
			log.Error(err.Error())
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fail(err)
		return
	}
	defer c.Close()
	in := bufio.NewReader(c)
	for _, l := range []string{"help", "work 6", "wait", "status", "work -1", "work x", "frobnicate"} {
		log.Info("> " + l)
		answer, err := exchange(c, in, l)
		if err != nil {
			fail(err)
			return
		}
		log.Info("< " + answer)
	}
}
