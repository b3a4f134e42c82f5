// The chapters' regression suite: every script in testdata/ runs the real
// chapter binaries, built once by TestMain, and checks what they print.
package chapters_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mpgo/mp/internal/docgen"
	"github.com/rogpeppe/go-internal/testscript"
)

// binDir holds the chapter binaries, built exactly as a user's go run or go
// build would build them. Running them (rather than the test binary) means
// the re-executed backends are the chapters themselves.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mp-chapters-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// Every chapter there is (part*/*/main.go), and the examples.
	pkgs := []string{"./examples/..."}
	chapters, err := docgen.ChapterDirs(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, c := range chapters {
		pkgs = append(pkgs, "./"+c)
	}
	build := exec.Command("go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the chapters:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestChapters(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
			// No narrative pauses under test.
			env.Setenv("MP_FAST", "1")
			// CI marks every process of its run (see .ci/run).
			if run := os.Getenv("MP_TEST_RUN"); run != "" {
				env.Setenv("MP_TEST_RUN", run)
			}
			// A tag in every process's environment, and a shared-memory
			// prefix, both unique to this script: scripts run in parallel.
			tag := "ts" + randomHex(4)
			env.Setenv("MP_TEST_TAG", tag)
			env.Setenv("MP_SHM_PREFIX", "mp-"+tag+"-")
			// A script that fails before its noleftovers (the crash
			// scripts leave a segment on purpose) must not leave it on
			// the machine: remove what is left under its prefix.
			env.Defer(func() { removeSegments("mp-" + tag + "-") })
			// Scripts that run the project's tools find them here.
			root, err := os.Getwd()
			if err != nil {
				return err
			}
			env.Setenv("MP_ROOT", root)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"noleftovers": noLeftovers,
			"noprocs":     noProcs,
			"cmpre":       cmpRegexpLines,
			"pids":        pids,
			"waitproc":    waitProc,
			"signalproc":  signalProc,
			"waitfor":     waitFor,
		},
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
