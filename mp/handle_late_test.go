package mp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Fault: a handler registered after Init has returned, as a newcomer did on
// the line after mp.Init() in main. The backend, which runs Init before
// main goes on, never has it: the program used to go on, and each call
// failed with 'unknown command "sq"' and an empty list of known commands.
// Handle and HandleCommand must panic at once, saying where handlers go
// (this test binary's TestMain has called Init).
func TestHandleAfterInitPanics(t *testing.T) {
	assert.PanicsWithValue(t,
		`mp: kind "Test": command "late" registered after mp.Init: a backend runs Init before main goes on, so it would never have this handler; register handlers at package level (in the kind's var declaration or an init function)`,
		func() {
			testKind.Handle("late", func(*testBackend, context.Context, Message) error { return nil })
		})
	late := NewCommand[int, int]("late-typed")
	assert.Panics(t, func() {
		HandleCommand(testKind, late, func(*testBackend, context.Context, int) (int, error) { return 0, nil })
	})
}
