package mp

import "errors"

// A handler's error crosses the pipe as text. When it wraps one of the
// package's own sentinels (a reply too large to send, a bad parameter, …),
// the sentinel's text crosses with it, in a parameter of the error frame,
// so that errors.Is finds the sentinel on the frontend too.

// sentinelKey is the parameter of an error frame that names the sentinel.
const sentinelKey = "mp.sentinel"

// crossing are the sentinels that keep their identity across the pipe.
var crossing = []error{
	ErrFrameTooLarge, ErrBadFrame, ErrParam, ErrStopped, ErrBackendDied,
	ErrUnknownCommand, ErrUnknownKind, ErrNoFreeEvent, ErrEventIndex,
	ErrQueueFull,
}

// sentinelParams returns the parameters of an error frame for err: the
// first of the package's sentinels it wraps, if any.
func sentinelParams(err error) Params {
	for _, s := range crossing {
		if errors.Is(err, s) {
			return Params{sentinelKey: s.Error()}
		}
	}
	return nil
}

// sentinelOf returns the sentinel an error frame's parameters name, or nil.
func sentinelOf(p Params) error {
	text, ok := p[sentinelKey].(string)
	if !ok {
		return nil
	}
	for _, s := range crossing {
		if s.Error() == text {
			return s
		}
	}
	return nil
}
