package story

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// StatusUsage is the exit status of a chapter given a bad command line, as
// the flag package exits.
const StatusUsage = 2

// Every chapter handles its command line alike: -h (or -help) prints the
// usage on standard error and exits 0; an unknown or malformed flag, a
// value out of bounds or an argument that is not a flag prints
// "<chapter>: <what is wrong>" and the usage on standard error and exits
// with StatusUsage, before anything has started. The usage names the
// command a reader types: "usage: go run ./part1/shm2 [flags]".
// TestEveryChapterHandlesFlagsAlike (in the repository root) holds every
// chapter to it.

// ParseFlags parses a chapter's command line from the flags defined on
// flag.CommandLine, as every chapter does (see above). dir is the
// chapter's directory ("part1/shm2"), which the usage names; define the
// chapter's flags before calling it, and check their values after with
// Usage.
func ParseFlags(dir string) {
	name := path.Base(dir)
	fs := flag.CommandLine
	fs.Init(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // printed below, once
	flag.Usage = func() { fmt.Fprintln(os.Stderr, UsageText(dir, fs)) }
	err := fs.Parse(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		err = HelpError{UsageText(dir, fs)}
	case err == nil && fs.NArg() > 0:
		err = fmt.Errorf("unexpected arguments %q: %s takes no arguments", fs.Args(), name)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		err = fmt.Errorf("%s: %w\n%s", name, err, UsageText(dir, fs))
	}
	ExitOnFlagError(err)
}

// Usage reports a bad command line: the chapter's name and err, then the
// usage, on standard error; and exits with StatusUsage.
func Usage(err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", flag.CommandLine.Name(), err)
	flag.Usage()
	os.Exit(StatusUsage)
}

// UsageText is the usage of the chapter in dir whose flags fs holds, as
// every chapter prints it, without a final newline: "usage: go run ./DIR
// [flags]", one more line for each of forms (what follows the command in
// another way to run it, such as "-client ADDR [command...]"), then the
// flags as the flag package lists them. A chapter without flags says so.
func UsageText(dir string, fs *flag.FlagSet, forms ...string) string {
	var b strings.Builder
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if !hasFlags {
		fmt.Fprintf(&b, "usage: go run ./%s\n\n%s takes no flags and no arguments.", dir, path.Base(dir))
		return b.String()
	}
	fmt.Fprintf(&b, "usage: go run ./%s [flags]\n", dir)
	for _, f := range forms {
		fmt.Fprintf(&b, "       go run ./%s %s\n", dir, f)
	}
	b.WriteString("\nflags:\n")
	out := fs.Output()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(out)
	return strings.TrimSuffix(b.String(), "\n")
}

// HelpError is what -h asks for: the usage, an answer rather than a
// mistake. It wraps flag.ErrHelp.
type HelpError struct{ Usage string }

func (e HelpError) Error() string { return e.Usage }
func (e HelpError) Unwrap() error { return flag.ErrHelp }

// ExitOnFlagError ends the program as every chapter does when parsing its
// command line returned err: nothing happens for nil; for -h (a HelpError)
// it prints the usage on standard error and exits 0; any other err, which
// says what is wrong and holds the usage, it prints on standard error and
// exits with StatusUsage.
func ExitOnFlagError(err error) {
	var help HelpError
	switch {
	case err == nil:
		return
	case errors.As(err, &help):
		fmt.Fprintln(os.Stderr, help.Usage)
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(StatusUsage)
	}
}
