package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/mplog"
	"github.com/mpgo/mp/internal/proctest"
	"github.com/mpgo/mp/mp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The test binary is also the chapter's backends: Init diverts a re-executed
// copy into its worker or sensor, as the chapter's main does.
func TestMain(m *testing.M) {
	mp.Init()
	if os.Getenv(proctest.TagVar) == "" {
		os.Setenv(proctest.TagVar, "extrafd-unit-"+strconv.Itoa(os.Getpid()))
	}
	// The library keeps one thread (and its goroutine) that starts every
	// process, for the life of the program: see package mp.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/mpgo/mp/mp.spawn.func1.1"))
}

// server runs the chapter's run in the test, and returns its address once
// it is ready. The returned stop ends it and returns run's error; the test
// also checks that no process of it is left.
func server(t *testing.T, tweak func(*config)) (addr string, stop func() error) {
	t.Helper()
	cfg, err := parseFlags([]string{"-workers", "2", "-task-ms", "1"})
	require.NoError(t, err)
	ready := make(chan string, 1)
	cfg.onReady = func(a string) { ready <- a }
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, cfg, mplog.New("main", mplog.Front)) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run ended before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("not ready within 20 s")
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
			assert.Empty(t, proctest.Tagged(os.Getenv(proctest.TagVar)), "processes left")
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

// client is one connection, with a deadline on every exchange.
type client struct {
	t  *testing.T
	c  net.Conn
	in *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, in: bufio.NewReader(c)}
}

// say sends a line and returns the answer.
func (c *client) say(line string) string {
	c.t.Helper()
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(c.c, line+"\n")
	require.NoError(c.t, err)
	return c.read()
}

func (c *client) read() string {
	c.t.Helper()
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	answer, err := c.in.ReadString('\n')
	require.NoError(c.t, err)
	return strings.TrimSuffix(answer, "\n")
}

// closed checks that the server closed the connection.
func (c *client) closed() {
	c.t.Helper()
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := c.in.ReadString('\n')
	assert.ErrorIs(c.t, err, io.EOF)
}

// Fault: bad commands and arguments. Each gets a one-line error, and the
// same connection answers the next command.
func TestBadInputKeepsTheConnection(t *testing.T) {
	addr, _ := server(t, nil)
	c := dial(t, addr)
	for _, tc := range []struct{ line, want string }{
		{"work -1", `error: work wants a number of tasks from 1 to 10000, got "-1"`},
		{"work x", `error: work wants a number of tasks from 1 to 10000, got "x"`},
		{"work", `error: work wants a number of tasks from 1 to 10000, got ""`},
		{"work 0", `error: work wants a number of tasks from 1 to 10000, got "0"`},
		{"work 10001", `error: work wants a number of tasks from 1 to 10000, got "10001"`},
		{"work 99999999999999999999", `error: work wants a number of tasks from 1 to 10000, got "99999999999999999999"`},
		{"work 1 2", `error: work wants a number of tasks from 1 to 10000, got "1 2"`},
		{"quit now", `error: quit takes no argument; try help`},
		{"STATUS", `error: unknown command "STATUS"; try help`},
		{"\x00\xff", `error: unknown command "\x00\xff"; try help`},
		{"", `error: empty line; try help`},
		{"   ", `error: empty line; try help`},
	} {
		assert.Equal(t, tc.want, c.say(tc.line), "line %q", tc.line)
		assert.Contains(t, c.say("status"), "workers: ", "after %q", tc.line)
	}
	assert.Equal(t, "queued 1 tasks: task-1 to task-1", c.say("work 1"))
	assert.Equal(t, "all 1 tasks ended: 1 done, 0 failed", c.say("wait"))
}

// Fault: a line longer than 4 KiB is refused with one line, and the
// connection is closed; a line of exactly 4 KiB (newline included) is not.
func TestLongLineClosesTheConnection(t *testing.T) {
	addr, _ := server(t, nil)
	c := dial(t, addr)
	assert.Equal(t, `error: unknown command "`+strings.Repeat("a", maxLine-1)+`"; try help`, c.say(strings.Repeat("a", maxLine-1)))
	assert.Equal(t, "error: line longer than 4096 bytes; closing", c.say(strings.Repeat("a", 64<<10)))
	c.closed()
	// The server goes on.
	assert.Contains(t, dial(t, addr).say("status"), "workers: ")
}

// Fault: a client that connects and sends nothing is timed out, and while
// it waits the loop serves others.
func TestIdleClientTimedOut(t *testing.T) {
	addr, _ := server(t, func(c *config) { c.idleTimeout = 300 * time.Millisecond })
	idle := dial(t, addr)
	start := time.Now()
	for range 3 {
		assert.Contains(t, dial(t, addr).say("status"), "workers: ")
	}
	assert.Less(t, time.Since(start), 300*time.Millisecond, "the idle client held the others")
	assert.Equal(t, "error: idle for 300ms; closing", idle.read())
	idle.closed()
}

// Fault: 100 clients at once, each with a few commands: all are served.
// Each waits, after its first answer, until all 100 have had theirs: a
// server that served one connection at a time would never get there.
func TestHundredClients(t *testing.T) {
	addr, _ := server(t, nil)
	const n = 100
	var wg, first sync.WaitGroup
	first.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if !assert.NoError(t, err) {
				first.Done()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			in := bufio.NewReader(c)
			for j, line := range []string{"status", "work 1", "help"} {
				if j == 1 {
					first.Wait() // all 100 are connected and served
				}
				if _, err := io.WriteString(c, line+"\n"); !assert.NoError(t, err, "client %d", i) {
					if j == 0 {
						first.Done()
					}
					return
				}
				answer, err := in.ReadString('\n')
				if j == 0 {
					first.Done()
				}
				if !assert.NoError(t, err, "client %d, %s", i, line) {
					return
				}
				assert.NotContains(t, answer, "error", "client %d", i)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, "all 100 tasks ended: 100 done, 0 failed", dial(t, addr).say("wait"))
}

// Fault: quit from one client stops the manager cleanly for all: it gets
// "bye", the others see their connection closed, run returns nil, and no
// process is left. The race this injects, every run: the stop lands on the
// quitting client's connection after the loop has decided its answer and
// before the connection has read and written it. The test's hook holds
// that connection there until the server has interrupted it (closed it,
// or cut its read short). A server that ends its connections as soon as
// it is asked to stop, rather than once the loop has ended with its
// answers written, loses the "bye".
func TestQuitStopsForAll(t *testing.T) {
	addr, stop := server(t, func(c *config) {
		c.listen = func(network, addr string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			return watchedListener{ln}, err
		}
		c.asked = func(c net.Conn, line string) {
			if line != "quit\n" {
				return
			}
			select {
			case <-c.(*watchedConn).interrupted:
			case <-time.After(20 * time.Second):
				t.Error("the quitting client's connection was never interrupted")
			}
		}
	})
	others := []*client{dial(t, addr), dial(t, addr), dial(t, addr)}
	for _, o := range others {
		assert.Contains(t, o.say("status"), "workers: ")
	}
	quitter := dial(t, addr)
	assert.Equal(t, "bye", quitter.say("quit"))
	quitter.closed()
	for _, o := range others {
		o.closed()
	}
	assert.NoError(t, stop())
}

// Fault: an answer the loop decides while the manager stops still reaches
// its client. A client waits for its two long tasks ("wait") when another
// quits: the stop cancels the tasks, and the waiting client gets "all 2
// tasks ended: 0 done, 2 failed" before its connection closes. A server
// whose connections end when the stop is asked for, rather than once the
// loop has ended, closes that connection without the answer.
func TestQuitAnswersWaitingClients(t *testing.T) {
	waiting := make(chan struct{})
	addr, stop := server(t, func(c *config) {
		c.taskMillis = 60000
		c.asked = func(_ net.Conn, line string) {
			if line == "wait\n" {
				close(waiting) // the loop gets it before anything sent after
			}
		}
	})
	waiter := dial(t, addr)
	assert.Equal(t, "queued 2 tasks: task-1 to task-2", waiter.say("work 2"))
	_, err := io.WriteString(waiter.c, "wait\n")
	require.NoError(t, err)
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("wait never reached the loop")
	}
	assert.Equal(t, "bye", dial(t, addr).say("quit"))
	assert.Equal(t, "all 2 tasks ended: 0 done, 2 failed", waiter.read())
	waiter.closed()
	assert.NoError(t, stop())
}

// watchedListener's connections say when the server interrupts them:
// when it closes one, or sets a read deadline that has already passed.
type watchedListener struct{ net.Listener }

func (l watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchedConn{Conn: c, interrupted: make(chan struct{})}, nil
}

type watchedConn struct {
	net.Conn
	once        sync.Once
	interrupted chan struct{} // closed once the server has interrupted it
}

func (c *watchedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.interrupted) })
	return err
}

func (c *watchedConn) SetReadDeadline(t time.Time) error {
	err := c.Conn.SetReadDeadline(t)
	if !t.After(time.Now()) {
		c.once.Do(func() { close(c.interrupted) })
	}
	return err
}
