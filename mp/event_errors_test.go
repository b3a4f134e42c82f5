package mp

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What event calls say when they cannot work, as a user reads it (found by a
// newcomer trying the docs): a process without event slots is named in the
// error, as every other error names its process; a Wait on a closed event
// says the event is closed, not "file already closed", and is still
// os.ErrClosed for errors.Is; after Close, NewEvent and a Wait say the
// process was stopped, as a Call does then.
func TestEventErrorsSayWhat(t *testing.T) {
	none := startTest(t, Options{Name: "no-events"})
	_, err := none.NewEvent()
	require.ErrorIs(t, err, ErrNoFreeEvent)
	assert.Equal(t, "mp: no-events: new event: no free event slot (Options.Events is 0)", err.Error())
	require.NoError(t, none.Close()) // each test's clean-up wants none of its processes left

	p := startTest(t, Options{Name: "some-events", Events: 2})
	ev, err := p.NewEvent()
	require.NoError(t, err)
	kept, err := p.NewEvent()
	require.NoError(t, err)
	require.NoError(t, ev.Close())
	err = ev.Wait(context.Background())
	require.ErrorIs(t, err, os.ErrClosed)
	assert.Equal(t, "mp: some-events: wait on event 0: event is closed", err.Error())

	require.NoError(t, p.Close())
	_, err = p.NewEvent()
	assert.ErrorIs(t, err, ErrStopped)
	assert.ErrorIs(t, kept.Wait(context.Background()), ErrStopped)
}
