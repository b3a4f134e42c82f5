package cluster_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/mpgo/mp/mp"
	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startHost(t, nc, testConfig, 3)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hosts, err := c.WaitHosts(ctx, 1, square.Name())
	require.NoError(t, err)
	assert.Equal(t, 3, hosts[0].Workers)

	var tasks []*cluster.Task[Result]
	for i := range 20 {
		task, err := cluster.Submit(ctx, c, square, Job{N: i})
		require.NoError(t, err)
		tasks = append(tasks, task)
	}
	for i, task := range tasks {
		r, err := task.Wait(ctx)
		require.NoError(t, err)
		assert.Equal(t, i*i, r.Square)
		assert.NotEqual(t, os.Getpid(), r.Pid, "ran in a backend")
	}
	assertQueueEmpty(t, nc, testConfig)
}

// A handler's error is the task's result: reported, not retried.
func TestHandlerError(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startHost(t, nc, testConfig, 1)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	_, err := cluster.Call(ctx, c, square, Job{Fail: "disk full"})
	require.ErrorIs(t, err, cluster.ErrHandler)
	var te *cluster.TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, te.Deliveries)
	assert.Contains(t, err.Error(), "disk full")
}

// Fault: the worker host running a task is SIGKILLed in the middle of it.
// The task is redelivered after AckWait to another host and its result
// arrives once. (Acknowledging a task when it is taken, before its reply,
// loses it: the test then times out.)
func TestWorkerKilledMidTask(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	host := startHostProcess(t, s.URL())
	dir := t.TempDir()
	task, err := cluster.Submit(ctx, c, square, Job{N: 7, Dir: dir})
	require.NoError(t, err)
	waitFile(t, filepath.Join(dir, "run-1"))
	require.NoError(t, host.Process.Signal(syscall.SIGKILL))
	host.Wait()

	startHost(t, nc, testConfig, 1)
	r, err := task.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 49, r.Square)
	assert.Equal(t, 2, r.Runs, "ran again after the kill")
	assertQueueEmpty(t, nc, testConfig)
}

// Fault: a poison task panics its backend on every delivery. After
// MaxDeliver attempts it is reported failed, and the other tasks carry on.
// (Without the last-delivery check the task is handed back each time, then
// stays in the stream for good: the test times out.)
func TestPoisonTask(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startHost(t, nc, testConfig, 2)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	poison, err := cluster.Submit(ctx, c, square, Job{Panic: true})
	require.NoError(t, err)
	var good []*cluster.Task[Result]
	for i := range 5 {
		task, err := cluster.Submit(ctx, c, square, Job{N: i})
		require.NoError(t, err)
		good = append(good, task)
	}
	_, err = poison.Wait(ctx)
	require.ErrorIs(t, err, cluster.ErrFailed)
	var te *cluster.TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, testConfig.MaxDeliver, te.Deliveries)
	assert.Contains(t, err.Error(), "panicked")
	assert.Equal(t, 1, strings.Count(err.Error(), "cluster:"), err.Error())
	for i, task := range good {
		r, err := task.Wait(ctx)
		require.NoError(t, err)
		assert.Equal(t, i*i, r.Square)
	}
	assertQueueEmpty(t, nc, testConfig)
}

// Fault: the host running a task's last delivery is lost (SIGKILL). The
// server leaves the task in the work queue for good and says so in an
// advisory; a worker reports it failed and removes it. (Without the
// advisory's handler the test times out.)
func TestLastDeliveryLost(t *testing.T) {
	cfg := testConfig
	cfg.MaxDeliver = 1
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c := newClient(t, nc, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	host := startHostProcess(t, s.URL(), "MP_CLUSTER_TEST_MAXDELIVER=1")
	dir := t.TempDir()
	task, err := cluster.Submit(ctx, c, square, Job{N: 3, Dir: dir})
	require.NoError(t, err)
	waitFile(t, filepath.Join(dir, "run-1"))
	require.NoError(t, host.Process.Signal(syscall.SIGKILL))
	host.Wait()

	startHost(t, nc, cfg, 1)
	_, err = task.Wait(ctx)
	require.ErrorIs(t, err, cluster.ErrFailed)
	assert.Contains(t, err.Error(), ": failed after its last delivery (1 delivery): no worker finished it (its host was lost, or handed it back)")
	assertQueueEmpty(t, nc, cfg)
}

// Fault: the URL names no server. Connect fails within its timeout with an
// error that names the URL (without its secret).
func TestUnreachable(t *testing.T) {
	start := time.Now()
	_, err := cluster.Connect("nats://secret@127.0.0.1:1", time.Second)
	require.ErrorIs(t, err, cluster.ErrConnect)
	assert.Contains(t, err.Error(), "nats://xxxxx@127.0.0.1:1")
	assert.NotContains(t, err.Error(), "secret")
	assert.Less(t, time.Since(start), 3*time.Second)
}

// Fault: a request larger than the server accepts fails at Submit, and
// nothing is queued.
func TestRequestTooLarge(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c := newClient(t, nc, testConfig)
	big := mp.NewCommand[[]byte, int]("big")
	_, err := cluster.Submit(context.Background(), c, big, make([]byte, nc.MaxPayload()))
	require.ErrorIs(t, err, cluster.ErrTooLarge)
	assert.Contains(t, err.Error(), `submit "big"`)
	assert.Contains(t, err.Error(), "the server accepts at most")
	assert.Equal(t, 1, strings.Count(err.Error(), "cluster:"), err.Error())
	assertQueueEmpty(t, nc, testConfig)
}

// Fault: someone publishes garbage on the task subject. The worker
// terminates it (it is not redelivered, and not left in the queue), logs
// it, and goes on with the next task.
func TestGarbageTerminated(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c := newClient(t, nc, testConfig) // creates the streams
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = js.Publish(ctx, "mp.task.square", []byte("\xffnot a task"))
	require.NoError(t, err)
	// With a client header and an ID, but bytes that are no request.
	msg := nats.NewMsg("mp.task.square")
	msg.Header.Set("Mp-Client", c.ID())
	msg.Header.Set(nats.MsgIdHdr, "garbage1")
	msg.Data = []byte{0xff, 0x00}
	_, err = js.PublishMsg(ctx, msg)
	require.NoError(t, err)

	startHost(t, nc, testConfig, 1)
	r, err := cluster.Call(ctx, c, square, Job{N: 5})
	require.NoError(t, err)
	assert.Equal(t, 25, r.Square)
	assertQueueEmpty(t, nc, testConfig)
	info, err := js.Consumer(ctx, "MP_TASKS", "task-square")
	require.NoError(t, err)
	ci, err := info.Info(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 3, ci.Delivered.Consumer, "each message delivered once: nothing redelivered")
}

// JobV2 is Job as a newer build sends it: one field more.
type JobV2 struct {
	N        int
	Priority int
}

// Typed commands reject fields the receiver does not know: a submitter of
// a newer build is told, per task, instead of having the field dropped;
// the worker goes on.
func TestUnknownFieldRejected(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startHost(t, nc, testConfig, 1)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	squareV2 := mp.NewCommand[JobV2, Result]("square")
	_, err := cluster.Call(ctx, c, squareV2, JobV2{N: 2, Priority: 9})
	require.ErrorIs(t, err, cluster.ErrBadRequest)
	assert.Contains(t, err.Error(), "Priority")
	// A missing field is no error: it is the zero value.
	_, err = cluster.Call(ctx, c, mp.NewCommand[struct{}, Result]("square"), struct{}{})
	require.NoError(t, err)
	r, err := cluster.Call(ctx, c, square, Job{N: 4})
	require.NoError(t, err)
	assert.Equal(t, 16, r.Square)
}

// A server that requires a token refuses a client without it; a worker
// with it gets its tasks.
func TestCredentialsRequired(t *testing.T) {
	s := startServer(t, embedded.Config{Token: "s3cret"})
	assert.Contains(t, s.URL(), "s3cret@127.0.0.1:")
	bare := strings.Replace(s.URL(), "s3cret@", "", 1)
	_, err := cluster.Connect(bare, time.Second)
	require.ErrorIs(t, err, cluster.ErrConnect)
	assert.Contains(t, strings.ToLower(err.Error()), "authorization violation")
	_, err = cluster.Connect(strings.Replace(s.URL(), "s3cret", "guess", 1), time.Second)
	require.ErrorIs(t, err, cluster.ErrConnect)

	nc := connect(t, s)
	startHost(t, nc, testConfig, 1)
	c := newClient(t, nc, testConfig)
	r, err := cluster.Call(context.Background(), c, square, Job{N: 3})
	require.NoError(t, err)
	assert.Equal(t, 9, r.Square)
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "localhost": true, "::1": true, "127.0.0.2": true,
		"0.0.0.0": false, "": false, "10.0.0.1": false, "example.com": false,
	} {
		assert.Equal(t, want, embedded.Loopback(host), host)
	}
}

// The result of a task stored twice (its task ran twice, on two hosts)
// reaches the client once: the server keeps the first (same message ID),
// and the client takes the first it sees.
func TestResultOnce(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	task, err := cluster.Submit(ctx, c, square, Job{N: 6})
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	for _, n := range []int{36, 99} { // the second run's result differs
		msg := nats.NewMsg("mp.result." + c.ID() + "." + task.ID())
		msg.Header.Set("Mp-Status", "ok")
		msg.Header.Set(nats.MsgIdHdr, task.ID())
		msg.Data, err = cbor.Marshal(Result{Square: n})
		require.NoError(t, err)
		_, err = js.PublishMsg(ctx, msg)
		require.NoError(t, err)
	}
	r, err := task.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 36, r.Square)
	st, err := js.Stream(ctx, "MP_RESULTS")
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, info.State.Msgs)
}

// startHostProcess starts this test binary as a worker host connected to
// url, and waits until it pulls.
func startHostProcess(t *testing.T, url string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), envHost+"="+url), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// waitFile waits up to ten seconds for path to exist: how a test knows a
// task runs in another process.
func waitFile(t *testing.T, path string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := os.Stat(path)
		return err == nil
	}, 10*time.Second, 5*time.Millisecond, "no %s", path)
}

// assertQueueEmpty checks that the task stream ends up empty: every task
// acknowledged or terminated, none left for good.
func assertQueueEmpty(t *testing.T, nc *nats.Conn, cfg cluster.Config) {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	assert.Eventually(t, func() bool {
		st, err := js.Stream(context.Background(), "MP_TASKS")
		if err != nil {
			return false
		}
		info, err := st.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	}, 5*time.Second, 10*time.Millisecond, "tasks left in the stream")
}

// A worker host whose Config disagrees with the consumer the first host
// made fails at Run, naming both, instead of changing it for every host.
func TestConfigMismatchRefused(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	startHost(t, nc, testConfig, 1)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.WaitHosts(ctx, 1, square.Name())
	require.NoError(t, err)

	other := testConfig
	other.AckWait = 5 * time.Second
	m, err := newManager(1)
	require.NoError(t, err)
	w := cluster.NewWorker(nc, other, cluster.WorkerOptions{})
	cluster.Serve(w, square)
	err = w.Run(ctx, m)
	require.ErrorIs(t, err, cluster.ErrConfig)
	assert.Contains(t, err.Error(), "has AckWait 1s and MaxDeliver 3, this host's Config 5s and 3")

	js, err := jetstream.New(nc)
	require.NoError(t, err)
	cons, err := js.Consumer(ctx, "MP_TASKS", "task-square")
	require.NoError(t, err)
	assert.Equal(t, time.Second, cons.CachedInfo().Config.AckWait, "unchanged")
}

// A program whose Replicas differ from the streams' fails with ErrConfig,
// naming both, and the streams keep theirs.
func TestReplicasMismatchRefused(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	newClient(t, nc, testConfig)
	other := testConfig
	other.Replicas = 3
	_, err := cluster.NewClient(context.Background(), nc, other)
	require.ErrorIs(t, err, cluster.ErrConfig)
	assert.Contains(t, err.Error(), "stream MP_TASKS has 1 replica(s), this program's Config 3")
}
