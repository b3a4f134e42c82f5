package mp

import "fmt"

// Message is what travels between a frontend and its backend: a command name
// and named parameters, the Go counterpart of a Python call with keyword
// arguments. Messages sent by the backend (with Backend.Send or as replies)
// use the same type.
type Message struct {
	// Command selects the backend handler (frontend to backend), or names
	// the event (backend to frontend), e.g. "ping" or "pong".
	Command string
	// Params holds the arguments, with typed getters (Params.Int, …). See
	// Params for the value types allowed.
	Params Params

	id uint64 // correlation id of a Call; zero for a plain Send
}

// Params are the named arguments of a message. Values must be one of: nil,
// bool, int, int64, uint64, float64, string, []byte, []int, []float64 or
// []string; anything else makes Send fail with ErrParam. Values arrive with
// the same Go type they were sent with.
type Params map[string]any

// IsCall reports whether the message was sent with Process.Call and so
// expects a reply.
func (m Message) IsCall() bool { return m.id != 0 }

// String returns the string parameter key, or an error wrapping ErrParam if
// it is missing or not a string.
func (p Params) String(key string) (string, error) { return param[string](p, key) }

// Bool returns the bool parameter key, or an error wrapping ErrParam.
func (p Params) Bool(key string) (bool, error) { return param[bool](p, key) }

// Float returns the float64 parameter key, or an error wrapping ErrParam.
func (p Params) Float(key string) (float64, error) { return param[float64](p, key) }

// Bytes returns the []byte parameter key, or an error wrapping ErrParam.
func (p Params) Bytes(key string) ([]byte, error) { return param[[]byte](p, key) }

// Ints returns the []int parameter key, or an error wrapping ErrParam.
func (p Params) Ints(key string) ([]int, error) { return param[[]int](p, key) }

// Int returns the integer parameter key, sent as int, int64 or uint64, or an
// error wrapping ErrParam if it is missing, of another type, or does not fit
// in an int.
func (p Params) Int(key string) (int, error) { return intParam(p, key) }

func intParam(p Params, key string) (int, error) {
	v, ok := p[key]
	if !ok {
		return 0, paramError(key, fmt.Errorf("missing: %w", ErrParam))
	}
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		if int64(int(n)) == n {
			return int(n), nil
		}
	case uint64:
		if n <= uint64(^uint(0)>>1) {
			return int(n), nil
		}
	}
	switch v.(type) {
	case int64, uint64:
		return 0, paramError(key, fmt.Errorf("%T %v does not fit in an int: %w", v, v, ErrParam))
	}
	return 0, paramError(key, fmt.Errorf("%T, want an integer: %w", v, ErrParam))
}

func param[T any](p Params, key string) (T, error) {
	var zero T
	v, ok := p[key]
	if !ok {
		return zero, paramError(key, fmt.Errorf("missing: %w", ErrParam))
	}
	t, ok := v.(T)
	if !ok {
		return zero, paramError(key, fmt.Errorf("%T, want %T: %w", v, zero, ErrParam))
	}
	return t, nil
}

// paramError is the error of a getter of parameter key.
func paramError(key string, err error) error {
	return opError(fmt.Sprintf("parameter %q", key), "", err)
}
