//go:build !amd64 || race

package shm

import "sync/atomic"

// storeRelease stores v at p with (at least) release ordering. Here it is
// sync/atomic's sequentially consistent store: on other architectures, and
// under the race detector, which sees the ordering of sync/atomic only.
func storeRelease(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// storeFlag stores v at p: here with sync/atomic's store (see
// storeRelease).
func storeFlag(p *uint32, v uint32) { atomic.StoreUint32(p, v) }
