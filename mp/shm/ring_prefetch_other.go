//go:build !amd64

package shm

import "unsafe"

func prefetchw(p unsafe.Pointer) {}
