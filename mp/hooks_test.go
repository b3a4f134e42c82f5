package mp

import (
	"context"
	"errors"
	"os"
)

// hooksBackend has pre-run and post-run hooks that fail on request.
type hooksBackend struct{ *Backend }

func (h *hooksBackend) PreRun(ctx context.Context) error {
	switch h.Params()["prerun"] {
	case "fail":
		return errors.New("no can do")
	case "panic":
		panic("pre-run exploded")
	case "chatty-fail":
		for i := range 3 { // within the window of MessageBuffer 1
			if err := h.Send(ctx, "chat", Params{"i": i}); err != nil {
				return err
			}
		}
		return errors.New("said too much")
	}
	h.Log().Info("pre-run done")
	return nil
}

func (h *hooksBackend) PostRun() error {
	h.Log().Info("post-run done")
	return nil
}

var hooksKind = NewKind("Hooks", func(b *Backend) *hooksBackend { return &hooksBackend{b} })

// markerBackend's post-run hook creates the file named by its "marker"
// parameter: proof, visible from outside, that the hook ran.
type markerBackend struct{ *Backend }

func (m *markerBackend) PostRun() error {
	path, err := m.Params().String("marker")
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte("post-run ran\n"), 0o600)
}

var markerKind = NewKind("Marker", func(b *Backend) *markerBackend { return &markerBackend{b} }).
	Handle("touch", func(*markerBackend, context.Context, Message) error { return nil })
