package shm

import "unsafe"

// prefetchw is in ring_prefetch_amd64.s.
//
//go:noescape
func prefetchw(p unsafe.Pointer)
