package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: a Config whose durations are bare numbers, as if in seconds
// (AckWait: 2, Timeout: 10), which Go reads as nanoseconds. NewClient and
// Worker.Run refuse them with ErrConfig naming the field; before, the
// client accepted them, and the worker's keep-alive ticker of AckWait/3 = 0
// panicked the whole worker host at its first task.
func TestBareNumberDurationsRefused(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		cfg  cluster.Config
		want string
	}{
		{cluster.Config{AckWait: 2}, "AckWait 2ns: want at least 1ms"},
		{cluster.Config{AckWait: 30}, "AckWait 30ns: want at least 1ms"},
		{cluster.Config{Timeout: 10}, "Timeout 10ns: want at least 1ms"},
	} {
		_, err := cluster.NewClient(ctx, nc, tc.cfg)
		require.ErrorIs(t, err, cluster.ErrConfig, "client %+v", tc.cfg)
		assert.Contains(t, err.Error(), tc.want)

		m, err := newManager(1)
		require.NoError(t, err)
		w := cluster.NewWorker(nc, tc.cfg, cluster.WorkerOptions{})
		cluster.Serve(w, square)
		runCtx, stop := context.WithTimeout(ctx, 2*time.Second)
		err = w.Run(runCtx, m)
		stop()
		require.ErrorIs(t, err, cluster.ErrConfig, "worker %+v", tc.cfg)
		assert.Contains(t, err.Error(), tc.want)
	}
}

// Fault: a URL whose password or token holds a character the URL parser
// does not take as is ('%', '/', '#', a space), or a token without the
// nats:// scheme. Redact and Connect's error leave every part of the
// secret out, and Connect fails at once, saying what to escape. Before,
// Redact returned such a URL whole, and Connect's error quoted it again
// in the client library's parse error ("invalid URL escape \"%zz\""), or
// dialled the token's first half as a host ("lookup ab").
func TestSecretThatDoesNotParseRedacted(t *testing.T) {
	for _, tc := range []struct {
		url, want string
		secrets   []string
	}{
		{"nats://to%zz@127.0.0.1:1", "nats://xxxxx@127.0.0.1:1", []string{"to%", "%zz", "zz"}},
		{"nats://ab#cd@127.0.0.1:1", "nats://xxxxx@127.0.0.1:1", []string{"ab#", "#cd", "lookup"}},
		{"nats://u:pa/ss@127.0.0.1:1", "nats://xxxxx@127.0.0.1:1", []string{"pa/", "/ss", `":pa"`}},
		{"nats://u:p ss@127.0.0.1:1", "nats://xxxxx@127.0.0.1:1", []string{"p ss"}},
		{"nats://127.0.0.1:2,nats://k/ey@127.0.0.1:1", "nats://127.0.0.1:2,nats://xxxxx@127.0.0.1:1", []string{"k/", "/ey"}},
	} {
		got := cluster.Redact(tc.url)
		assert.Equal(t, tc.want, got)
		_, err := cluster.Connect(tc.url, time.Second)
		require.ErrorIs(t, err, cluster.ErrConnect, tc.url)
		assert.Contains(t, err.Error(), "cannot connect to "+tc.want+": the user, password or token does not parse")
		for _, s := range tc.secrets {
			assert.NotContains(t, err.Error(), s, tc.url)
		}
	}
	// Without a scheme the client library adds nats://; so does Redact.
	assert.Equal(t, "nats://xxxxx@127.0.0.1:1", cluster.Redact("s3cret@127.0.0.1:1"))
	// Well-formed: as before, the user kept, the secret replaced.
	assert.Equal(t, "nats://u:xxxxx@127.0.0.1:1,nats://xxxxx@h:2", cluster.Redact("nats://u:p%2Fss@127.0.0.1:1,nats://tok@h:2"))
}

// Fault: two deployments on one server whose Prefixes differ only in case
// ("mp" and "MP"): both name the streams MP_TASKS and MP_RESULTS, which
// take only the first one's subjects. The second program fails with
// ErrConfig naming the stream and both sets of subjects. Before, it
// started, and each Submit failed after its retries with "nats: no
// response from stream" (no stream takes MP.task.square).
func TestPrefixCaseClashRefused(t *testing.T) {
	s := startServer(t, embedded.Config{})
	nc := connect(t, s)
	newClient(t, nc, testConfig)
	other := testConfig
	other.Prefix = "MP"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cluster.NewClient(ctx, nc, other)
	if err == nil {
		c.Close()
	}
	require.ErrorIs(t, err, cluster.ErrConfig)
	assert.Contains(t, err.Error(), "stream MP_TASKS takes subjects [mp.task.>] with WorkQueue retention, this program's Config wants [MP.task.>]")

	m, err := newManager(1)
	require.NoError(t, err)
	w := cluster.NewWorker(nc, other, cluster.WorkerOptions{})
	cluster.Serve(w, square)
	require.ErrorIs(t, w.Run(ctx, m), cluster.ErrConfig)
}

// Fault: Connect is given an empty URL (an unset environment variable,
// say). It fails with ErrConnect saying the URL is empty; before, it said
// "cannot connect to : nats: no servers available for connection".
func TestEmptyURL(t *testing.T) {
	for _, u := range []string{"", "  "} {
		_, err := cluster.Connect(u, time.Second)
		require.ErrorIs(t, err, cluster.ErrConnect)
		assert.Equal(t, "cluster: cannot connect: the URL is empty (want nats://host:port)", err.Error())
	}
}
