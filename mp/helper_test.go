package mp

import (
	"context"
	"fmt"
)

// runHelper runs the test binary as a frontend for tests that must kill a
// frontend: it starts a backend, prints its PID, and waits to be killed.
func runHelper(mode string) int {
	switch mode {
	case "orphan":
		p, err := testKind.Start(context.Background(), Options{Name: "orphan"})
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		// Keep the backend busy in a handler that never returns: it will
		// not see the end of its command pipe, so only the parent-death
		// signal can end it when we are killed.
		if err := p.Send(context.Background(), "hang", nil); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		if m := <-p.Messages(); m.Command != "hanging" {
			fmt.Println("error: got", m.Command)
			return 1
		}
		fmt.Printf("backend %d\n", p.Pid())
		select {}
	case "shmorphan":
		// A frontend that dies holding a segment: create it, have a backend
		// map it, say so, and wait to be killed.
		a, err := CreateArray[float64]("orphaned", 8)
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		p, err := testKind.Start(context.Background(), Options{Name: "shm-orphan"})
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		if err := p.Send(context.Background(), "shmhold", Params{"name": a.Name()}); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		<-p.Messages()
		fmt.Printf("backend %d segment %s\n", p.Pid(), a.Name())
		select {}
	}
	fmt.Println("unknown helper", mode)
	return 2
}
