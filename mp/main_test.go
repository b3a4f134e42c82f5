package mp

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpgo/mp/internal/proctest"
	"github.com/mpgo/mp/internal/spin"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The test binary is also the backend: TestMain gives Init (and the raw
// floor benchmarks' echo loops) the first word, exactly as a chapter's main
// does.
func TestMain(m *testing.M) {
	// MP_TEST_SKIP_INIT plays a program whose main forgot mp.Init.
	if os.Getenv("MP_TEST_SKIP_INIT") == "" {
		Init()
	}
	if mode := os.Getenv(envRaw); mode != "" {
		os.Exit(rawEcho(mode))
	}
	if mode := os.Getenv(envHelper); mode != "" {
		os.Exit(runHelper(mode))
	}
	// Every process this test binary starts carries this tag in its
	// environment, so leftovers can be found without touching anybody else's.
	if os.Getenv(envTestTag) == "" {
		os.Setenv(envTestTag, "mp-unit-"+strconv.Itoa(os.Getpid()))
	}
	// Under -race every process sleeps a second at exit by default
	// (atexit_sleep_ms), which would slow each stop; the backends need not.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	// No goroutine may outlive the tests, but the package's own for life:
	// the spawner, locked to its thread for good (spawn.go).
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/mpgo/mp/mp.spawn.func1.1"))
}

const (
	envTestTag = "MP_TEST_TAG"
	envRaw     = "MP_TEST_RAW"
	envHelper  = "MP_TEST_HELPER"
)

// startTest starts a "Test" backend that is stopped when the test ends, and
// checks then that nothing of ours is left running.
func startTest(t *testing.T, opts Options) *Process {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "t-" + strings.ReplaceAll(filepath.Base(t.Name()), "/", "-")
		if len(opts.Name) > 64 {
			opts.Name = opts.Name[:64]
		}
	}
	p, err := testKind.Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Close()
		requireNoLeftovers(t)
	})
	return p
}

// requireNoLeftovers fails the test if a process started by this test
// binary is still alive (zombies excepted: they are dead, only not yet
// reaped by their new parent). A process killed a moment ago may take a
// little while to go, so it waits for their ends for up to one second.
func requireNoLeftovers(t *testing.T) {
	t.Helper()
	tag := os.Getenv(envTestTag)
	left, err := proctest.AwaitNone(func() []int { return proctest.Tagged(tag) }, time.Second)
	require.NoError(t, err)
	require.Empty(t, left, "processes left behind")
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of os/exec's
// copying goroutine and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setForTest sets *p to v, and puts the old value back when the test ends:
// for the package's variables that tests turn (restFor, blockFor, the
// hooks). Set before the process or goroutines that read
// them start, they are never written while those run.
func setForTest[T any](t testing.TB, p *T, v T) {
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

// setSpinOff turns polling off (true) or on until the test ends.
func setSpinOff(t testing.TB, off bool) {
	old := spin.SetOff(off)
	t.Cleanup(func() { spin.SetOff(old) })
}
