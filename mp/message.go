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
	// Params holds the arguments. See Params for the value types allowed.
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
func (m Message) String(key string) (string, error) { return param[string](m, key) }

// Bool returns the bool parameter key, or an error wrapping ErrParam.
func (m Message) Bool(key string) (bool, error) { return param[bool](m, key) }

// Float returns the float64 parameter key, or an error wrapping ErrParam.
func (m Message) Float(key string) (float64, error) { return param[float64](m, key) }

// Bytes returns the []byte parameter key, or an error wrapping ErrParam.
func (m Message) Bytes(key string) ([]byte, error) { return param[[]byte](m, key) }

// Ints returns the []int parameter key, or an error wrapping ErrParam.
func (m Message) Ints(key string) ([]int, error) { return param[[]int](m, key) }

// Int returns the integer parameter key, sent as int, int64 or uint64, or an
// error wrapping ErrParam if it is missing, of another type, or does not fit
// in an int.
func (m Message) Int(key string) (int, error) {
	v, ok := m.Params[key]
	if !ok {
		return 0, fmt.Errorf("mp: message %q: parameter %q is missing: %w", m.Command, key, ErrParam)
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
	return 0, fmt.Errorf("mp: message %q: parameter %q is %T, want an integer: %w", m.Command, key, v, ErrParam)
}

func param[T any](m Message, key string) (T, error) {
	var zero T
	v, ok := m.Params[key]
	if !ok {
		return zero, fmt.Errorf("mp: message %q: parameter %q is missing: %w", m.Command, key, ErrParam)
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("mp: message %q: parameter %q is %T, want %T: %w", m.Command, key, v, zero, ErrParam)
	}
	return t, nil
}
