package mp

import (
	"os/exec"
	"runtime"
	"sync"
)

// Children must die with their parent. The kernel's parent-death signal
// (SysProcAttr.Pdeathsig) does that, with one catch (Go issue 27505): it
// fires when the *thread* that started the child exits, not the process, and
// the Go runtime retires threads whenever it likes. So every child is started
// from one goroutine that is locked to its OS thread and never returns: the
// thread lives exactly as long as the process.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn starts cmd from the spawner thread.
func spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // and never unlock: see above
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	r := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawner.reqs <- r
	return <-r.done
}
