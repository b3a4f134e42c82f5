package cluster_test

import (
	"strings"
	"testing"

	"github.com/mpgo/mp/mp/cluster"
	"github.com/stretchr/testify/assert"
)

// A task's error says each fact once: "cluster:" at the start, the task,
// what happened to it, after how many deliveries, and what the worker said;
// and it still unwraps to its sentinel.
func TestTaskErrorSaysEachFactOnce(t *testing.T) {
	for _, c := range []struct {
		err        error
		deliveries int
		msg, want  string
	}{
		{cluster.ErrFailed, 3, `manager: task "work-1" on worker "local-2" (pid 42): worker died`,
			`cluster: task "work" T1: failed after its last delivery (3 deliveries): manager: task "work-1" on worker "local-2" (pid 42): worker died`},
		{cluster.ErrFailed, 1, "no worker finished it (its host was lost, or handed it back)",
			`cluster: task "work" T1: failed after its last delivery (1 delivery): no worker finished it (its host was lost, or handed it back)`},
		{cluster.ErrHandler, 1, "disk full",
			`cluster: task "work" T1: handler failed (1 delivery): disk full`},
		{cluster.ErrBadRequest, 1, `decoding main.Work: unknown field "Priority"`,
			`cluster: task "work" T1: request does not decode (1 delivery): decoding main.Work: unknown field "Priority"`},
	} {
		err := &cluster.TaskError{Task: "T1", Command: "work", Deliveries: c.deliveries, Msg: c.msg, Err: c.err}
		assert.Equal(t, c.want, err.Error())
		assert.ErrorIs(t, err, c.err)
		assert.Equal(t, 1, strings.Count(err.Error(), "cluster:"), err.Error())
	}
}
