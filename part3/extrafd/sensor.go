package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"github.com/mpgo/mp/mp"
)

// The sensor stands for a device, or a C library that reports through a
// file descriptor: it adds 1 to an eventfd at a steady rate. The eventfd is
// made by the frontend, once, and handed to every sensor process it starts
// (Options.Files): it outlives the sensor's crashes and restarts, so the
// manager's side never has to find a new one.
type sensor struct {
	*mp.Backend
	stop chan struct{}
	done chan struct{}
}

// PreRun starts the ticking, on a goroutine of the backend.
func (s *sensor) PreRun(ctx context.Context) error {
	rate, err := s.Params().Int("rate")
	if err != nil {
		return err
	}
	efd := s.File(0)
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		one := binary.NativeEndian.AppendUint64(nil, 1)
		for {
			select {
			case <-tick.C:
				if _, err := efd.Write(one); err != nil { // eventfd adds it to its counter
					s.Log().Error("tick: " + err.Error())
					return
				}
			case <-s.stop:
				return
			}
		}
	}()
	return nil
}

// PostRun stops it.
func (s *sensor) PostRun() error {
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	return nil
}

var sensors = mp.NewKind("Sensor", func(b *mp.Backend) *sensor { return &sensor{Backend: b} })

// readTicks reads the eventfd the sensor adds to, and hands each count (the
// ticks since the last read: reading resets it) to ticks, until events is
// closed or ctx ends.
func readTicks(ctx context.Context, events *os.File, ticks chan<- uint64) {
	buf := make([]byte, 8)
	for {
		if _, err := events.Read(buf); err != nil {
			return // closed
		}
		select {
		case ticks <- binary.NativeEndian.Uint64(buf):
		case <-ctx.Done():
			return
		}
	}
}

// sensorEvent is what the sensor's supervisor tells the loop.
type sensorEvent struct {
	pid  int    // it is ready, as this process
	exit string // or it exited, as this report says
}

func (s *state) sensorChanged(e sensorEvent) {
	switch {
	case e.exit != "":
		s.sensorPid = 0 // its supervisor has logged how it ended
	case !s.sensorSeen:
		s.sensorSeen, s.sensorPid = true, e.pid
	default:
		s.sensorPid = e.pid
		s.restarts++
		s.log.Info(fmt.Sprintf("sensor restarted as pid %d", e.pid))
	}
}
