package mp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSharedArrayAcrossProcesses(t *testing.T) {
	useShmPrefix(t)
	a, err := CreateArray[float64]("across", 100, 100)
	require.NoError(t, err)
	defer a.Close()
	defer a.Unlink()
	a.Fill(1)
	p := startTest(t, Options{})
	spec := a.Spec()
	_, err = p.Call(context.Background(), "shmfill", Params{"name": spec.Name, "dtype": spec.DType, "shape": spec.Shape, "value": 3.0})
	require.NoError(t, err)
	assert.Equal(t, 30000.0, a.Sum())
}

func TestAnonArrayAcrossProcesses(t *testing.T) {
	a, err := CreateAnonArray[float64]("anon", 4, 4)
	require.NoError(t, err)
	defer a.Close()
	p := startTest(t, Options{Files: []*os.File{a.File()}})
	_, err = p.Call(context.Background(), "anonfill", nil)
	require.NoError(t, err)
	assert.Equal(t, 80.0, a.Sum())
}

func TestFaultBackendKilledHoldingMapping(t *testing.T) {
	prefix := useShmPrefix(t)
	a, err := CreateArray[float64]("held", 8)
	require.NoError(t, err)
	p := startTest(t, Options{})
	require.NoError(t, p.Send(context.Background(), "shmhold", Params{"name": a.Name()}))
	require.Equal(t, "holding", (<-p.Messages()).Command)
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))
	require.ErrorIs(t, p.Wait(context.Background()), ErrBackendDied)

	// The frontend still owns the segment, and cleans it up.
	assert.Equal(t, 8.0, a.Sum(), "what the backend wrote is still there")
	require.NoError(t, a.Close())
	require.NoError(t, a.Unlink())
	left, _ := filepath.Glob(filepath.Join(shmDir, prefix+"*"))
	assert.Empty(t, left)
}

func TestFaultFrontendKilledAfterCreate(t *testing.T) {
	prefix := useShmPrefix(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envHelper+"=shmorphan")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	var backend int
	var seg string
	_, err = fmt.Sscanf(line, "backend %d segment %s", &backend, &seg)
	require.NoError(t, err, "helper said %q", line)

	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	deadline := time.Now().Add(helperStopTimeout + 2*time.Second) // the grace after SIGTERM, and a second
	for alive(backend) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	require.False(t, alive(backend), "the backend dies with its frontend")

	// Nothing can unlink a segment whose owner was killed outright: it is
	// left, and its name says whose it was.
	require.FileExists(t, filepath.Join(shmDir, seg))
	owner, ok := SegmentOwner(seg)
	require.True(t, ok)
	assert.Equal(t, cmd.Process.Pid, owner)
	assert.False(t, alive(owner))

	// aux/cleanup.bash finds it by that, and removes it.
	out, err := exec.Command("bash", "../aux/cleanup.bash", "--segments-only", "--prefix", prefix).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "removing "+seg)
	assert.NoFileExists(t, filepath.Join(shmDir, seg))
	assert.True(t, strings.HasPrefix(seg, prefix))
}
