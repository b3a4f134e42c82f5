package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a three-node NATS cluster on 127.0.0.1 (three server processes,
// streams with three replicas) loses one node to SIGKILL in the middle of
// a run. No task is lost, every result arrives once, and the worker host
// and the client go on through the other nodes. It takes 10-30 s: skipped
// with -short.
func TestThreeNodeClusterNodeKilled(t *testing.T) {
	runThreeNodeCluster(t, func(t *testing.T, js jetstream.JetStream, _ *nats.Conn) string {
		st, err := js.Stream(t.Context(), "MP_TASKS")
		require.NoError(t, err)
		info, err := st.Info(t.Context())
		require.NoError(t, err)
		require.NotNil(t, info.Cluster)
		return info.Cluster.Leader
	}, "the task stream's leader")
}

// Fault: the node the client is connected to goes. The client reconnects
// to another node at once, and its results must go on arriving there
// although the node that served them is gone (the node also holds a
// replica, and often the leader, of each stream and consumer).
func TestThreeNodeClusterClientNodeKilled(t *testing.T) {
	runThreeNodeCluster(t, func(t *testing.T, _ jetstream.JetStream, ncClient *nats.Conn) string {
		return ncClient.ConnectedServerName()
	}, "the client's server")
}

// runThreeNodeCluster starts the cluster, a worker host of two workers and
// a client, submits 20 tasks, and kills the node victim names (n1, n2 or
// n3) before waiting for the fifth; every task must still complete.
func runThreeNodeCluster(t *testing.T, victim func(t *testing.T, js jetstream.JetStream, ncClient *nats.Conn) string, what string) {
	if testing.Short() {
		t.Skip("slow: a three-node cluster and a leader election")
	}
	ports := freePorts(t, 6)
	var routes, urls []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	var nodes []*exec.Cmd
	for i := range 3 {
		spec := fmt.Sprintf("n%d %d %d %s %s", i+1, ports[i], ports[3+i], filepath.Join(t.TempDir(), "store"), strings.Join(routes, " "))
		nodes = append(nodes, startNode(t, spec))
	}
	cfg := cluster.Config{AckWait: 2 * time.Second, MaxDeliver: 10, Replicas: 3, Timeout: 5 * time.Second}
	connectAll := func() *nats.Conn {
		nc, err := cluster.Connect(strings.Join(urls, ","), 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		return nc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The cluster needs a JetStream leader before streams can be made.
	var c *cluster.Client
	ncClient := connectAll()
	require.Eventually(t, func() bool {
		tctx, tcancel := context.WithTimeout(ctx, 5*time.Second)
		defer tcancel()
		var err error
		c, err = cluster.NewClient(tctx, ncClient, cfg)
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "no JetStream leader")
	t.Cleanup(c.Close)
	startHost(t, connectAll(), cfg, 2)
	_, err := c.WaitHosts(ctx, 1, square.Name())
	require.NoError(t, err)
	var tasks []*cluster.Task[Result]
	for i := range 20 {
		task, err := cluster.Submit(ctx, c, square, Job{N: i, Sleep: 100 * time.Millisecond})
		require.NoError(t, err)
		tasks = append(tasks, task)
	}
	// The node goes, mid-run: with one replica, the tasks would go with
	// it.
	js, err := jetstream.New(ncClient)
	require.NoError(t, err)
	name := victim(t, js, ncClient)
	require.Regexp(t, "^n[123]$", name)
	leader := int(name[1] - '1') // "n2" → 1
	for i, task := range tasks {
		if i == 4 {
			t.Logf("killing node %s, %s", name, what)
			require.NoError(t, nodes[leader].Process.Signal(syscall.SIGKILL))
			nodes[leader].Wait()
		}
		r, err := task.Wait(ctx)
		require.NoError(t, err, "task %d", i)
		assert.Equal(t, i*i, r.Square)
	}
}

// freePorts returns n ports that were free on 127.0.0.1 a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startNode starts this test binary as a NATS node and waits for its
// "ready".
func startNode(t *testing.T, spec string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envNode+"="+spec)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, _ := bufio.NewReader(out).ReadString('\n')
	require.Equal(t, "ready\n", line, "node %s", spec)
	return cmd
}
