// Package env reads the project's MP_* environment variables, one way for
// all of them: booleans as strconv.ParseBool reads them, choices from a fixed
// list, durations as time.ParseDuration reads them. A value that does not
// parse is an error naming the variable and what it allows; callers report
// it once, at start-up, and use the default.
package env

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bool returns the boolean value of variable name, or def when it is unset
// or empty. "1", "t", "true", "0", "f", "false" (any case) are accepted.
func Bool(name string, def bool) (bool, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, fmt.Errorf("%s=%q: want a boolean (1, true, 0, false)", name, v)
	}
	return b, nil
}

// Choice returns the value of variable name, lower-cased, if it is one of
// allowed; def when it is unset or empty.
func Choice(name, def string, allowed ...string) (string, error) {
	v := strings.ToLower(os.Getenv(name))
	if v == "" {
		return def, nil
	}
	if !slices.Contains(allowed, v) {
		return def, fmt.Errorf("%s=%q: want one of %s", name, os.Getenv(name), strings.Join(allowed, ", "))
	}
	return v, nil
}

// Duration returns the duration value of variable name (e.g. "1.5s"), or def
// when it is unset or empty. Negative durations are refused.
func Duration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return def, fmt.Errorf("%s=%q: want a duration such as 500ms or 2s", name, v)
	}
	return d, nil
}

// Var is one of the project's variables, with the rule that reads it.
type Var struct {
	Name  string
	check func() error
}

// BoolVar is a variable read with Bool.
func BoolVar(name string) Var {
	return Var{name, func() error { _, err := Bool(name, false); return err }}
}

// ChoiceVar is a variable read with Choice.
func ChoiceVar(name string, allowed ...string) Var {
	return Var{name, func() error { _, err := Choice(name, "", allowed...); return err }}
}

// Vars are every variable of the project that holds a boolean or a choice,
// whoever reads it (the library, or the chapters), so that Check reports an
// unreadable value of any of them the same way.
var Vars = []Var{
	BoolVar("MP_FAST"),
	ChoiceVar("MP_LOG_LEVEL", "debug", "info", "warn", "warning", "error"),
	BoolVar("MP_LOG_TIME"),
	BoolVar("MP_SPIN"),
}

// Check returns an error for each of Vars whose value does not parse, in
// the order of Vars. A program reports them once, at start-up (mp.Init
// does), and each reader then uses its default.
func Check() []error {
	var errs []error
	for _, v := range Vars {
		if err := v.check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
