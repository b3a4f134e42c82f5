package mp_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/mpgo/mp/mp"
)

// greeter is the backend state of the examples' "Greeter" kind.
type greeter struct{ *mp.Backend }

func (g *greeter) greet(ctx context.Context, m mp.Message) error {
	who, err := m.Params.String("who")
	if err != nil {
		return err
	}
	return g.Reply(ctx, m, "greeting", mp.Params{"text": "hello, " + who})
}

func (g *greeter) shout(ctx context.Context, m mp.Message) error {
	text, err := m.Params.String("text")
	if err != nil {
		return err
	}
	return g.Send(ctx, "shouted", mp.Params{"text": strings.ToUpper(text)})
}

func (g *greeter) finish(ctx context.Context, m mp.Message) error {
	id, err := m.Params.Int("event")
	if err != nil {
		return err
	}
	done, err := g.Event(id)
	if err != nil {
		return err
	}
	return done.Set()
}

var greeters = mp.NewKind("Greeter", func(b *mp.Backend) *greeter { return &greeter{b} }).
	Handle("greet", (*greeter).greet).
	Handle("shout", (*greeter).shout).
	Handle("finish", (*greeter).finish)

// A complete round: start a backend, call it, stop it. (The example's
// main would call mp.Init first; here the test binary's TestMain does.)
func Example() {
	ctx := context.Background()
	p, err := greeters.Start(ctx, mp.Options{Name: "greeter"})
	if err != nil {
		fmt.Println(err)
		return
	}
	reply, err := p.Call(ctx, "greet", mp.Params{"who": "world"})
	if err != nil {
		fmt.Println(err)
	}
	text, _ := reply.Params.String("text")
	fmt.Println(reply.Command+":", text)
	fmt.Println("stopped:", p.Close())
	// Output:
	// greeting: hello, world
	// stopped: <nil>
}

// Messages the backend sends on its own arrive on a channel, to be read in
// a select beside anything else the frontend waits for.
func ExampleProcess_Messages() {
	ctx := context.Background()
	p, err := greeters.Start(ctx, mp.Options{Name: "shouter"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	p.Send(ctx, "shout", mp.Params{"text": "hey"})
	select {
	case m := <-p.Messages():
		text, _ := m.Params.String("text")
		fmt.Println(m.Command, text)
	case <-p.Done():
		fmt.Println("backend died:", p.Err())
	}
	// Output:
	// shouted HEY
}

// A goroutine that waits for the backend alone receives with Recv, as
// Python's Connection.recv does. io.EOF says the backend has exited and
// nothing more will come: receive what you need before stopping it.
func ExampleProcess_Recv() {
	ctx := context.Background()
	p, err := greeters.Start(ctx, mp.Options{Name: "receiver"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	for _, text := range []string{"one", "two"} {
		p.Send(ctx, "shout", mp.Params{"text": text})
	}
	for range 2 {
		m, err := p.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		text, _ := m.Params.String("text")
		fmt.Println(m.Command, text)
	}
	p.CloseSend() // the backend stops
	_, err = p.Recv(ctx)
	fmt.Println("then:", err)
	// Output:
	// shouted ONE
	// shouted TWO
	// then: EOF
}

// Make an event, send its ID, wait until the backend sets it.
func ExampleEvent() {
	ctx := context.Background()
	p, err := greeters.Start(ctx, mp.Options{Name: "eventful", Events: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	done, err := p.NewEvent()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer done.Close()
	p.Send(ctx, "finish", mp.Params{"event": done.ID()})
	fmt.Println("wait:", done.Wait(ctx))
	// Output:
	// wait: <nil>
}
