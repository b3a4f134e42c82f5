package mp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fault: Options.Name with a carriage return, an escape sequence, another
// control character, a no-break space or bytes that are not UTF-8. Start
// accepted them, and the name went as it was into every log line of the
// process ("<kind>.<Name> [front]"), into ps (argv[0]) and into errors,
// where "\r" or "\x1b[2J" rewrote what the terminal showed. Each is a bad
// process name now; a printable name of any script is still good.
func TestStartRejectsUnprintableNames(t *testing.T) {
	for _, name := range []string{"job\rdone", "red\x1b[31m", "bell\a", "tab\vv", "del\x7f", "nb\u00a0sp", "bad\xffutf8", "bidi\u202etxt"} {
		p, err := start(context.Background(), "Test", Options{Name: name})
		assert.Nil(t, p, "%q", name)
		assert.ErrorIs(t, err, ErrBadProcessName, "%q", name)
	}
	p := startTest(t, Options{Name: "työ-ワーカー"})
	require.NoError(t, p.Close())
}
