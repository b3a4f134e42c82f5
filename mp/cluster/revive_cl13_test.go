package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mpgo/mp/mp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: the results stream is deleted and, before the client makes it
// again, someone makes a stream of that name for something else (another
// program, a Prefix that differs only in case). Making the consumer again
// failed with ErrConfig every second until Close, silently: the Waits
// pending lasted until their ctx. They now end with that error, which
// names the stream and what it takes. The test makes the other stream in
// between (beforeRecreate).
func TestResultStreamOfAnotherConfigEndsTheWaits(t *testing.T) {
	s, nc := serverConn(t)
	admin, err := Connect(s.URL(), 0)
	require.NoError(t, err)
	defer admin.Close()
	js, err := jetstream.New(admin)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	made := make(chan error, 1)
	beforeRecreate = func() {
		beforeRecreate = nil
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MP_RESULTS", Subjects: []string{"elsewhere.>"}})
		made <- err
	}
	t.Cleanup(func() { beforeRecreate = nil })
	c, err := NewClient(ctx, nc, Config{})
	require.NoError(t, err)
	defer c.Close()
	task, err := Submit(ctx, c, mp.NewCommand[int, int]("unserved"), 1)
	require.NoError(t, err)

	require.NoError(t, js.DeleteStream(ctx, "MP_RESULTS"))
	select {
	case err := <-made:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("the client did not notice its results stream was deleted")
	}
	_, err = task.Wait(ctx)
	require.ErrorIs(t, err, ErrConfig)
	require.NoError(t, ctx.Err(), "the Wait ended with its ctx")
	assert.Contains(t, err.Error(), "stream MP_RESULTS takes subjects [elsewhere.>]")
	assert.Equal(t, 1, strings.Count(err.Error(), "cluster:"), err.Error())
}
