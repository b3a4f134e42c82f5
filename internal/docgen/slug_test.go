package docgen

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"ping_pong":                        "ping_pong",
		"2. ping2 — wait until it is done": "2-ping2--wait-until-it-is-done",
		"A program that forgot mp.Init":    "a-program-that-forgot-mpinit",
		"What `Stop` does (and why)":       "what-stop-does-and-why",
		"Über-große Ärger":                 "über-große-ärger",
	} {
		assert.Equal(t, want, Slug(heading), heading)
	}
}

func TestAnchors(t *testing.T) {
	md := "# Title\n## Try this\n### Try this\n```sh\n# not a heading\n```\n<a id=\"custom\"></a>\n## [Linked](x.md) heading\n#nospace\n"
	got := Anchors(md)
	assert.Equal(t, map[string]bool{
		"title": true, "try-this": true, "try-this-1": true, "custom": true, "linked-heading": true,
	}, got)
}

func TestRebaseLinks(t *testing.T) {
	md := "[a](../../docs/concepts.md#why) [b](https://example.com/x) [c](#here) [d](main.go)"
	assert.Equal(t,
		"[a](concepts.md#why) [b](https://example.com/x) [c](#here) [d](../part1/ping/main.go)",
		rebaseLinks(md, "part1/ping", "docs"))
}
