package main

import (
	"errors"
	"testing"

	"github.com/mpgo/mp/internal/story"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFloorChildFlagHidden: -scale-floor-child, which main1 passes to the
// processes of -scale's floor, still works but is not in the usage that -h
// and a usage error print; the flags a reader uses are, with their
// defaults even after other values were parsed.
func TestFloorChildFlagHidden(t *testing.T) {
	c, err := parseFlags([]string{"-" + floorChildFlag})
	require.NoError(t, err)
	assert.True(t, c.floorChild)

	_, err = parseFlags([]string{"-h"})
	var help story.HelpError
	require.True(t, errors.As(err, &help), "-h: %v", err)
	assert.NotContains(t, help.Usage, floorChildFlag)
	assert.Contains(t, help.Usage, "-workers int")
	assert.Contains(t, help.Usage, "(default 5)")

	_, err = parseFlags([]string{"-workers", "7", "-mode", "bogus"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), floorChildFlag)
	assert.Contains(t, err.Error(), "number of worker processes (default 5)", "the default, not the value parsed")
}
