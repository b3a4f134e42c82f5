package story

import (
	"flag"
	"fmt"
	"os"
	"path"
)

// StatusUsage is the exit status of a chapter given a bad command line, as
// the flag package exits.
const StatusUsage = 2

// ParseFlags parses a chapter's command line, the same way in every
// chapter: -h (or -help) prints its usage and exits 0; an unknown or
// malformed flag, or any argument that is not a flag, prints the error and
// the usage on standard error and exits with StatusUsage, before anything
// has started. dir is the chapter's directory ("part1/shm2"), which the
// usage line names; define the chapter's flags before calling it, and check
// their values after with Usage.
func ParseFlags(dir string) {
	name := path.Base(dir)
	flag.CommandLine.Init(name, flag.ExitOnError)
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		hasFlags := false
		flag.VisitAll(func(*flag.Flag) { hasFlags = true })
		if !hasFlags {
			fmt.Fprintf(out, "usage: go run ./%s\n\n%s takes no flags and no arguments.\n", dir, name)
			return
		}
		fmt.Fprintf(out, "usage: go run ./%s [flags]\n\nflags:\n", dir)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		Usage(fmt.Errorf("unexpected arguments %q: %s takes no arguments", flag.Args(), name))
	}
}

// Usage reports a bad command line: the chapter's name and err, then the
// usage, on standard error; and exits with StatusUsage.
func Usage(err error) {
	fmt.Fprintf(flag.CommandLine.Output(), "%s: %v\n", flag.CommandLine.Name(), err)
	flag.Usage()
	os.Exit(StatusUsage)
}
