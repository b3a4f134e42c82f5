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
		if _, err := p.Call(context.Background(), "pid", nil); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Printf("backend %d\n", p.Pid())
		select {}
	}
	fmt.Println("unknown helper", mode)
	return 2
}
