package shm_test

import (
	"context"
	"fmt"
	"io"

	"github.com/mpgo/mp/mp/shm"
)

// A ring streams frames from a producer to a consumer. One side creates it
// and hands its Files to the other process, which opens it with OpenRing
// (part3/stream does that through mp.Options.Files); here both sides live
// in one process to keep the example short.
func ExampleRing() {
	ring, err := shm.CreateRingAnon("example", shm.RingConfig{SlotSize: 64, Slots: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ring.Close()
	producer, _ := ring.Producer()
	consumer, _ := ring.Consumer()

	// Zero-copy: write the frame in its slot, then commit its length.
	buf, err := producer.Reserve(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	n := copy(buf, "frame 1")
	producer.Commit(n)
	// Or copy, as an io.Writer does.
	producer.Write([]byte("frame 2"))
	producer.Close() // end of stream

	for {
		view, err := consumer.Next(context.Background())
		if err == io.EOF {
			fmt.Println("end of stream")
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", view)
		consumer.Release()
	}
	// Output:
	// frame 1
	// frame 2
	// end of stream
}
