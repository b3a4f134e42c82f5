package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
)

// TestInNewDocumentEndsWithItsStep: inNewDocument retries an action only
// while its error says the execution context is gone, and never past its
// ctx: an action that fails that way for ever ends with the step's
// deadline; any other error ends it at once. Runs without Chromium.
func TestInNewDocumentEndsWithItsStep(t *testing.T) {
	tries := 0
	gone := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		tries++
		return chromedp.Void{}, errors.New("exception: Cannot find context with specified id (-32000)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := inNewDocument(gone)(ctx, nil); done <- err }()
	select {
	case err := <-done:
		assert.ErrorContains(t, err, "Cannot find context")
		assert.Greater(t, tries, 1, "not retried")
	case <-time.After(time.Minute):
		t.Fatal("inNewDocument went on past its ctx's deadline")
	}

	tries = 0
	other := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		tries++
		return chromedp.Void{}, errors.New("some other failure")
	}
	_, err := inNewDocument(other)(context.Background(), nil)
	assert.ErrorContains(t, err, "some other failure")
	assert.Equal(t, 1, tries)
}
