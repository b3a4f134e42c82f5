//go:build amd64 && !race

package shm

// storeRelease stores v at p with release ordering only: on amd64 a plain
// MOV, which every earlier load and store precedes (x86 keeps stores in
// order and never moves a store before an earlier load), and which, being
// in assembly, the compiler cannot move either. sync/atomic's Store is an
// XCHG, a full fence that waits for the store to reach the cache: across
// two CPUs, a whole cache-line transfer per frame. It is in
// ring_store_amd64.s.
//
//go:noescape
func storeRelease(p *uint64, v uint64)

// storeFlag stores v at p with a plain MOV (a Go store, which the compiler
// keeps before the sync/atomic loads that follow it, and which x86 never
// moves before earlier stores): for a flag whose reader runs a membarrier
// before it looks (see side.close).
func storeFlag(p *uint32, v uint32) { *p = v }
