package mp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkRawFramedReadRoundTrip is BenchmarkRawFramedRoundTrip with the
// caller blocked in read(2) on the reply pipe, as the echo is, instead of
// in ppoll(2) beside a cancel eventfd: the same frames and codec with no
// wait that anything but the reply (or the pipe's end) can end. No Call
// can do with less, since a Call's wait must end with its ctx too; it
// tells how much of the framed floor is the codec and how much the
// cancellable wait (docs/benchmarks.md, "The gap with polling off").
func BenchmarkRawFramedReadRoundTrip(b *testing.B) {
	w, r, pid, stop := rawEchoPipes(b, rawFramed, 0)
	b.Cleanup(stop)
	in := make([]byte, readBufferSize)
	c := &framedCaller{pending: map[uint64]chan frame{}}
	c.exchange = func(out []byte) ([]byte, error) {
		if _, err := unix.Write(w, out); err != nil {
			return nil, err
		}
		return readFrame(r, in, nil)
	}
	params := Params{"x": 1}
	defer measureCPU(b, pid)()
	for b.Loop() {
		if fr, err := c.call("echo", params); err != nil || fr.code != 0 {
			b.Fatal(fr.code, err)
		}
	}
}
