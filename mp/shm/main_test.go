package shm

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

// envHelper makes the test binary a helper process for the tests that need
// another process (or one that dies): see runHelper.
const envHelper = "SHM_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); strings.HasPrefix(mode, "ring") {
		os.Exit(runRingHelper(mode))
	} else if mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// runHelper is a process that creates an array named "held" under the
// MP_SHM_PREFIX it inherits, prints "created <segment>", and then:
//
//	createkill  kills itself with SIGKILL: a creator that dies holding it
//	createwait  unmaps it (Close) but keeps it, waits for its stdin to
//	            close, then unlinks it and exits
func runHelper(mode string) int {
	a, err := Create[float64]("held", 8)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("created", a.Name())
	switch mode {
	case "createkill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	case "createwait":
		a.Close()
		bufio.NewReader(os.Stdin).ReadString('\n')
		if err := a.Unlink(); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		return 0
	}
	a.Close()
	a.Unlink()
	fmt.Println("unknown helper", mode)
	return 2
}

// useShmPrefix gives the test its own segment prefix, and checks at the end
// that no segment with it is left in /dev/shm.
func useShmPrefix(t testing.TB) string {
	word := "u" + strconv.Itoa(os.Getpid()) + t.Name()
	word = strings.Map(func(r rune) rune {
		if r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, word)
	prefix := DefaultPrefix + word[:min(len(word), 56)] + "-"
	t.Setenv(PrefixEnv, prefix)
	t.Cleanup(func() {
		left, _ := filepath.Glob(filepath.Join(Dir, prefix+"*"))
		for _, f := range left {
			os.Remove(f)
		}
		assert.Empty(t, left, "segments left in /dev/shm")
	})
	return prefix
}
