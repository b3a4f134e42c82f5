package docgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMeta(t *testing.T) {
	m, err := ParseMeta("args: -dtype int64 -shape 3x4x5\nnormalize: took [0-9]+ms => took Nms\nexit: 1\ntimeout: 30s\n\n## Try this\n\n1. One.\n\n```sh\n## not a heading\n```\n\n## How to check\n\nLook.\n")
	require.NoError(t, err)
	assert.Equal(t, []string{"-dtype", "int64", "-shape", "3x4x5"}, m.Args)
	require.Len(t, m.Normalize, 1)
	assert.Equal(t, "took Nms", m.Normalize[0].RE.ReplaceAllString("took 12ms", m.Normalize[0].Repl))
	assert.Equal(t, 1, m.Exit)
	assert.Equal(t, 30*time.Second, m.Timeout)
	require.Len(t, m.Sections, 2)
	assert.Equal(t, "1. One.\n\n```sh\n## not a heading\n```", m.Section("try this"))
	assert.Equal(t, "Look.", m.Section("How to check"))
	assert.Empty(t, m.Section("Workshop notes"))
}

func TestParseMetaErrors(t *testing.T) {
	for name, text := range map[string]string{
		"unknown key":          "color: blue\n",
		"not a key line":       "some prose first\n## Try this\n",
		"normalize without =>": "normalize: [0-9]+\n",
		"bad regexp":           "normalize: ( => x\n",
		"bad exit":             "exit: one\n",
		"bad timeout":          "timeout: soon\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMeta(text)
			assert.ErrorIs(t, err, ErrMeta)
		})
	}
}
