package chapters_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWebviewScreenshotOnPage checks that the browser test's screenshot is
// in docs/img/ and that the chapter's page shows it. Its bytes change from
// run to run (TestBrowser in part3/webview writes it when given
// -update-screenshot): they are not checked.
func TestWebviewScreenshotOnPage(t *testing.T) {
	info, err := os.Stat("docs/img/webview.png")
	require.NoError(t, err, "the screenshot: go test -run TestBrowser ./part3/webview -update-screenshot writes it")
	assert.Greater(t, info.Size(), int64(1000))
	page, err := os.ReadFile("docs/part3.md")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(page), "](img/webview.png)"), "docs/part3.md does not show img/webview.png")
}
