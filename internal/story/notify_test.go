package story

import (
	"context"
	"os/signal"
	"syscall"
)

func notifyContext(sig syscall.Signal) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), sig)
}
